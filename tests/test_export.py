"""``logreg export``: the ONNX graph, run by onnxruntime on raw rows, gives ``logreg predict``'s probabilities; its
metadata round-trips; the serving lines of docs/command-line.md are the ones run here. Skipped without the
``export`` extra.

Two models are trained and exported once each: one on a file whose columns have real scales (ages, incomes, small
ratios: a graph without the standardisation would be far off) with a tuned threshold, and the tutorial's threshold
data trained in float64 (``--trainer.precision 64``), whose graph must still be float32.
"""

from __future__ import annotations

import errno
import importlib.metadata
import importlib.util
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, call_main, figures_off

# Skipped without the extra; imported where used, not at collection, where every xdist worker would pay the import
# (about a second of CPU) for the one worker that runs this file.
EXTRA = ("onnx", "onnxruntime", "onnxscript")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in EXTRA), reason=f"needs the export extra ({', '.join(EXTRA)})"
)

CKPT = "lightning_logs/version_0/checkpoints/last.ckpt"
TOLERANCE = 1e-6
SERVED_ROWS = 10_000


def real_scale_rows(n: int, seed: int) -> np.ndarray:
    """(n, 3) rows of age (years), income (dollars) and a small ratio, rounded as a file would hold them."""
    rng = np.random.default_rng(seed)
    age = rng.normal(45, 12, n).round(1)
    income = rng.normal(52_000, 15_000, n).round(2)
    ratio = rng.normal(0.003, 0.001, n).round(6)
    return np.column_stack([age, income, ratio])


def write_csv(path: Path, rows: np.ndarray, labels: list[str] | None = None) -> None:
    header = "age,income,ratio" + (",label" if labels is not None else "")
    lines = [",".join(repr(float(v)) for v in row) for row in rows]
    if labels is not None:
        lines = [f"{line},{label}" for line, label in zip(lines, labels, strict=True)]
    path.write_text("\n".join([header, *lines]) + "\n")


def read_predictions(path: Path) -> tuple[np.ndarray, list[str]]:
    """``probability`` and ``predicted_label`` of a ``logreg predict --predictions`` file."""
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return np.array([float(row[0]) for row in rows]), [row[1] for row in rows]


@pytest.fixture(scope="module")
def file_model(tmp_path_factory) -> Path:
    """A model trained on real-scale columns with labels 'no'/'yes' and an F1-tuned threshold; its predictions on
    10,000 new raw rows (``served.csv``, no labels) and its export ``model.onnx``."""
    root = tmp_path_factory.mktemp("file_model")
    rows = real_scale_rows(300, seed=1)
    score = (rows[:, 0] - 45) / 12 - (rows[:, 1] - 52_000) / 15_000 + (rows[:, 2] - 0.003) / 0.001
    write_csv(root / "train.csv", rows, ["yes" if s > 0.3 else "no" for s in score])
    write_csv(root / "served.csv", real_scale_rows(SERVED_ROWS, seed=2) * [1.2, 1.5, 1.1])  # beyond the training range
    data = ["--data", "FileDataModule", "--data.path", "train.csv", "--data.batch_size", "32", "--data.test_fraction",
            "0"]  # fmt: skip
    with figures_off():  # (a module fixture runs before the per-test fixture that turns them off)
        call_main("fit", *data, "--trainer.max_epochs", "2", "--model.lr", "0.5", "--model.tune_threshold", "f1",
                  cwd=root)  # fmt: skip
    call_main("predict", "--ckpt_path", CKPT, "--data", "FileDataModule", "--data.path", "served.csv",
              "--data.batch_size", "0", "--predictions", "predictions.csv", cwd=root)  # fmt: skip
    call_main("export", "--ckpt_path", CKPT, "--output", "model.onnx", cwd=root)
    return root


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory) -> Path:
    """The tutorial's data trained in float64, its predictions on the 40 grid points, and its export, written with
    ``--overwrite true`` over an older file of mode 0640."""
    root = tmp_path_factory.mktemp("grid_model")
    with figures_off():
        call_main("fit", "--trainer.max_epochs", "1", "--trainer.precision", "64", "--data.test_fraction", "0",
                  cwd=root)  # fmt: skip
    call_main("predict", "--ckpt_path", CKPT, "--predictions", "predictions.csv", cwd=root)
    (root / "model.onnx").write_text("an older export")
    (root / "model.onnx").chmod(0o640)
    result = call_main("export", "--ckpt_path", CKPT, "--output", "model.onnx", "--overwrite", "true", cwd=root)
    assert result.stdout.startswith("wrote model.onnx: features (batch, 1) float32 -> probability (batch, 1)")
    return root


def session(root: Path):
    """onnxruntime's session of ``root/model.onnx``, on the CPU."""
    import onnxruntime as ort

    return ort.InferenceSession(str(root / "model.onnx"), providers=["CPUExecutionProvider"])


def test_10000_raw_rows_equal_predict(file_model):
    rows = np.loadtxt(file_model / "served.csv", delimiter=",", skiprows=1).astype(np.float32)  # as logreg reads it
    assert rows.shape == (SERVED_ROWS, 3)
    (probability,) = session(file_model).run(["probability"], {"features": rows})
    expected, _ = read_predictions(file_model / "predictions.csv")
    assert probability.shape == (SERVED_ROWS, 1) and probability.dtype == np.float32
    np.testing.assert_allclose(probability[:, 0], expected, rtol=0, atol=TOLERANCE)
    assert 0.05 < expected.mean() < 0.95 and expected.std() > 0.1  # the rows are not all alike
    mean = torch.load(file_model / CKPT, weights_only=True)["state_dict"]["feature_mean"]
    assert mean[1] > 10_000  # incomes: the graph standardises, or the probabilities could not agree


def test_one_row_at_a_time_equals_predict_for_a_float64_model(grid_model):
    state = torch.load(grid_model / CKPT, weights_only=True)["state_dict"]
    assert state["linear.weight"].dtype == torch.float64  # trained under precision 64
    grid = torch.arange(-2.0, 2.0, 0.1).view(-1, 1).numpy()  # the tutorial's x, the rows predict saw
    expected, _ = read_predictions(grid_model / "predictions.csv")
    served = session(grid_model)
    probabilities = [served.run(["probability"], {"features": row[None, :]})[0] for row in grid]
    assert all(p.shape == (1, 1) for p in probabilities)
    np.testing.assert_allclose(np.concatenate(probabilities)[:, 0], expected, rtol=0, atol=TOLERANCE)


def test_graph_is_float32_with_a_dynamic_batch(grid_model):
    import onnx

    model = onnx.load(grid_model / "model.onnx")
    onnx.checker.check_model(model)
    (given,), (returned,) = model.graph.input, model.graph.output
    assert (given.name, returned.name) == ("features", "probability")
    for value in (given, returned):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        batch, width = value.type.tensor_type.shape.dim
        assert batch.dim_param and not batch.dim_value and width.dim_value == 1
    assert {node.op_type for node in model.graph.node} >= {"Sigmoid", "Sub", "Div"}  # inside the graph
    assert (grid_model / "model.onnx").stat().st_mode & 0o777 == 0o640  # --overwrite true kept the file's mode


def test_metadata_round_trips(file_model):
    expected = {
        "classes": ["no", "yes"],
        "feature_names": ["age", "income", "ratio"],
        "threshold": float(torch.load(file_model / CKPT, weights_only=True)["state_dict"]["threshold"].float()),
        "logreg_version": importlib.metadata.version("logreg"),
    }
    import onnx

    props = {prop.key: prop.value for prop in onnx.load(file_model / "model.onnx").metadata_props}
    assert session(file_model).get_modelmeta().custom_metadata_map == props  # what a server sees
    decoded = {key: json.loads(value) if key in ("classes", "feature_names") else value for key, value in props.items()}
    decoded["threshold"] = float(decoded["threshold"])
    assert decoded == expected
    assert expected["threshold"] != 0.5  # tuned: the buffer, not the hyperparameter, is what predict decides with


def test_the_documented_serving_lines(file_model, monkeypatch):
    """The serving lines of docs/command-line.md ("Serving with ONNX"), run as written on the served rows with a NaN
    row and an infinite one added: predict's probabilities and labels for the others, and no probability and no label
    (None) for those two, which ``logreg predict`` refuses (the graph alone would give NaN, or 0 or 1, and the first
    class)."""
    page = (REPO / "docs" / "command-line.md").read_text()
    section = page[page.index("## Serving with ONNX") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    rows = np.loadtxt(file_model / "served.csv", delimiter=",", skiprows=1).tolist()
    bad = [[45.0, float("nan"), 0.003], [45.0, 52_000.0, float("inf")]]
    monkeypatch.chdir(file_model)
    names = {"rows": rows + bad}
    exec(code, names)
    expected, labels = read_predictions(file_model / "predictions.csv")
    p, predicted = names["p"], names["labels"]
    assert np.isnan(p[SERVED_ROWS:]).all() and list(predicted[SERVED_ROWS:]) == [None, None]
    np.testing.assert_allclose(p[:SERVED_ROWS], expected, rtol=0, atol=TOLERANCE)
    threshold = float(names["meta"]["threshold"])
    clear = np.abs(expected - threshold) > TOLERANCE  # rows this close to the threshold may fall either way
    assert clear.mean() > 0.99
    assert list(predicted[:SERVED_ROWS][clear]) == [label for label, keep in zip(labels, clear, strict=True) if keep]


def test_an_estimator_checkpoint_exports_its_column_names_and_warns_nothing(tmp_path, monkeypatch, capsys):
    """An estimator fitted on a DataFrame with columns ``a, b`` and text labels, saved and exported: the graph's
    metadata names the columns and the labels, and its probabilities are the estimator's. The export warns nothing
    (the exported module is in eval mode: torch.onnx.export warns about one in training mode)."""
    import pandas as pd

    from logreg import LogisticRegressionClassifier
    from logreg.cli.export import export_command

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(10, 3, 200), "b": rng.normal(0, 0.01, 200)})
    labels = np.where(frame["a"] / 3 - frame["b"] / 0.01 + rng.normal(0, 1, 200) > 3.3, "yes", "no")
    model = LogisticRegressionClassifier().fit(frame, labels)
    model.save(tmp_path / "model.ckpt")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        export_command(["--ckpt_path", "model.ckpt", "--output", "model.onnx"])
    assert capsys.readouterr().out.startswith("wrote model.onnx: features (batch, 2) float32")
    props = session(tmp_path).get_modelmeta().custom_metadata_map
    assert json.loads(props["feature_names"]) == ["a", "b"] and json.loads(props["classes"]) == ["no", "yes"]
    (probability,) = session(tmp_path).run(["probability"], {"features": frame.to_numpy(np.float32)})
    np.testing.assert_allclose(probability[:, 0], model.predict_proba(frame)[:, 1], rtol=0, atol=TOLERANCE)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from logreg.writes import write_file

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ValueError, match=r"--output .*model.onnx: cannot write \(No space left on device\)"):
        write_file(tmp_path / "model.onnx", b"graph", label=f"--output {tmp_path / 'model.onnx'}")
    assert list(tmp_path.iterdir()) == []


def test_output_of_another_format_or_linked_to_the_checkpoint_is_refused(grid_model):
    """An ONNX model under a .csv (or .yaml, .npy...) name is refused, as predict refuses CSV rows under another
    format's name; --overwrite through a link to the checkpoint it reads is refused. Nothing is written."""
    before = {path: path.read_bytes() for path in grid_model.rglob("*") if path.is_file()}
    (grid_model / "link.onnx").symlink_to(grid_model / CKPT)
    try:
        for output, words in (("m.csv", "--output m.csv: the model is written as ONNX, not .csv; name a .onnx file"),
                              ("link.onnx", f"--output link.onnx: is {CKPT}, which this command reads")):  # fmt: skip
            proc = call_main("export", "--ckpt_path", CKPT, "--output", output, "--overwrite", "true", cwd=grid_model,
                             check=False)  # fmt: skip
            assert proc.returncode == 2 and proc.stderr.startswith(f"logreg: error: {words}"), proc.stderr
            assert len(proc.stderr.splitlines()) == 1
    finally:
        (grid_model / "link.onnx").unlink()
    assert {path: path.read_bytes() for path in grid_model.rglob("*") if path.is_file()} == before


def test_output_linked_to_the_runs_data_or_files_is_refused(file_model, tmp_path):
    """--overwrite true through a link to the run's training CSV, or to any file of its run directory (config.yaml,
    hparams.yaml, its best checkpoint), is refused in one line naming it, also from another directory (the data found
    from the fit's directory); it wrote ONNX bytes over them."""
    before = {path: path.read_bytes() for path in file_model.rglob("*") if path.is_file()}
    run = "lightning_logs/version_0"
    best = next(path for path in (file_model / run / "checkpoints").iterdir() if path.name != "last.ckpt")
    cases = [(file_model, "data.onnx", file_model / "train.csv", "train.csv"),
             *((file_model, "run.onnx", target, f"in {run}") for target in
               (file_model / run / "config.yaml", file_model / run / "hparams.yaml", best)),
             (tmp_path, "data.onnx", file_model / "train.csv", str(file_model / "train.csv"))]  # fmt: skip
    for cwd, link, target, shown in cases:
        (cwd / link).symlink_to(target)
        try:
            proc = call_main("export", "--ckpt_path", str(file_model / CKPT), "--output", link, "--overwrite", "true",
                             cwd=cwd, check=False)  # fmt: skip
        finally:
            (cwd / link).unlink()
        why = "a directory of the checkpoint's run" if shown.startswith("in ") else "which the checkpoint's run reads"
        words = f"--output {link}: is {shown}, {why}; choose another file"
        assert proc.returncode == 2 and proc.stderr == f"logreg: error: {words}\n", proc.stderr
    assert {path: path.read_bytes() for path in file_model.rglob("*") if path.is_file()} == before


def test_a_checkpoint_copied_out_of_its_run_exports(file_model, tmp_path):
    """A checkpoint copied out of its run directory (a deploy folder) exports as in the run: with no run to tell,
    there are no run files to protect. It was refused with advice to give --data.path, which export does not take."""
    (tmp_path / "model.ckpt").write_bytes((file_model / CKPT).read_bytes())
    proc = call_main("export", "--ckpt_path", "model.ckpt", "--output", "m.onnx", cwd=tmp_path)
    assert proc.stdout.startswith("wrote m.onnx: features (batch, 3) float32")
    assert (tmp_path / "m.onnx").read_bytes() == (file_model / "model.onnx").read_bytes()
