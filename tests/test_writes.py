"""Every file logreg writes goes through ``logreg.writes``: whole or not at all for a regular file, through a
symbolic link to its target (the link stays), in place for a pipe, a character device or the process's own stdout
(never replaced by a plain file), and a name ending in "/" is refused."""

import os
import stat
import threading

import numpy as np
import pytest

from conftest import run_dirs
from logreg.writes import check_target, write_file, writing


def test_a_link_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    write_file(link, "new\n", label="--predictions link.csv")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the replaced file's mode kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]  # no temporary file left


def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.onnx"
    link.symlink_to(tmp_path / "made.onnx")
    write_file(link, b"graph", label="--output link.onnx")
    assert link.is_symlink() and (tmp_path / "made.onnx").read_bytes() == b"graph"


def test_a_pipe_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    check_target(fifo, "--output pipe")  # exists, but nothing is replaced: no --overwrite needed
    write_file(fifo, b"graph", label="--output pipe")
    reader.join(timeout=10)
    assert received == [b"graph"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dev_null_stays_a_device(tmp_path):
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    write_file(link, "rows\n", label="--predictions null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_stdout_redirected_to_a_file_is_written_through_its_descriptor(tmp_path):
    """``logreg predict --predictions /dev/stdout > out.csv`` as root replaced /dev/stdout with a plain file. Here a
    link to /proc/self/fd/1 stands for /dev/stdout (the machine's own is never touched), fd 1 goes to out.csv."""
    out = tmp_path / "out.csv"
    stdout = tmp_path / "stdout"
    stdout.symlink_to("/proc/self/fd/1")
    saved = os.dup(1)
    try:
        with open(out, "w") as redirected:
            os.dup2(redirected.fileno(), 1)
        check_target(stdout, "--predictions stdout")  # the file stdout goes to exists: no --overwrite needed
        with writing(stdout, "--predictions stdout") as handle:
            handle.write("probability\n0.5\n")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    assert stdout.is_symlink() and os.readlink(stdout) == "/proc/self/fd/1"
    assert out.read_text() == "probability\n0.5\n"


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), writing(path, "c.csv") as handle:
        handle.write("half")
        raise RuntimeError("stopped")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv"]


def test_a_name_ending_in_a_slash_is_refused(tmp_path):
    """``--output newdir/`` wrote a file named newdir (pathlib drops the slash)."""
    with pytest.raises(IsADirectoryError, match="ends with '/', which names a directory"):
        check_target(f"{tmp_path}/newdir/", "--output")
    assert list(tmp_path.iterdir()) == []


def test_predictions_through_a_link(tmp_path, run_cli):
    """The CLI's predictions, through a link to an existing file (with --overwrite true): the link stays."""
    run_cli("fit", "--trainer.max_epochs", "1")
    last = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    refused = run_cli("predict", "--ckpt_path", str(last), "--predictions", "link.csv", check=False)
    assert refused.returncode == 2 and "file exists" in refused.stderr
    run_cli("predict", "--ckpt_path", str(last), "--predictions", "link.csv", "--overwrite", "true")
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text().startswith("probability,predicted_label,label")
    for name in ("out.parquet", "OUT.NPY"):  # CSV text under another format's name: refused before any work
        refused = run_cli("predict", "--ckpt_path", str(last), "--predictions", name, check=False)
        expected = f"logreg: error: --predictions {name}: predictions are written as CSV, not {name[3:].lower()}"
        assert (refused.returncode, refused.stderr) == (2, expected + "; name a .csv file\n")
    run_cli("predict", "--ckpt_path", str(last), "--predictions", "preds")  # no suffix: a CSV as asked
    assert (tmp_path / "preds").read_text().startswith("probability,predicted_label,label")
    assert not {"out.parquet", "OUT.NPY"} & {path.name for path in tmp_path.iterdir()}


def test_predictions_through_a_link_onto_the_runs_files_are_refused(tmp_path, run_cli):
    """--predictions with --overwrite true through a link to the run's training CSV (predicting on other rows), or
    to a file of its run directory, is refused in one line naming it, and every file is kept: the training CSV
    became the predictions."""
    rng = np.random.default_rng(0)
    rows = ["u,label", *(f"{u!r},{int(u > 0)}" for u in rng.normal(size=60).tolist())]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "new.csv").write_text("\n".join(rows[:20]) + "\n")
    run_cli("fit", "--config", "tabular", "--data.path", "d.csv", "--trainer.max_epochs", "1")
    run = run_dirs(tmp_path)[0]
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    shown = os.path.relpath(run, tmp_path)
    for target, words in [
        (tmp_path / "d.csv", "is d.csv, which the checkpoint's run reads"),
        (run / "hparams.yaml", f"is in {shown}, a directory of the checkpoint's run"),
        (run / "config.yaml", f"is in {shown}, a directory of the checkpoint's run"),
    ]:
        (tmp_path / "out.csv").symlink_to(target)
        try:
            proc = run_cli("predict", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--data.path", "new.csv",
                           "--predictions", "out.csv", "--overwrite", "true", check=False)  # fmt: skip
        finally:
            (tmp_path / "out.csv").unlink()
        expected = f"logreg: error: --predictions out.csv: {words}; choose another file\n"
        assert (proc.returncode, proc.stderr) == (2, expected)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
