"""Checkpoints that cannot run code, bad checkpoints, and non-finite training."""

import os
import pickle
import subprocess
import sys

import pytest
import torch

from conftest import run_dirs, run_logreg


class MakesMarker:
    """Unpickling this would run ``os.system`` and create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    run_logreg("fit", "--trainer.max_epochs", "2", cwd=root)
    return run_dirs(root)[0] / "checkpoints" / "last.ckpt"


def assert_one_line_error(proc, *words):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("subcommand", ["test", "predict"])
def test_crafted_pickle_is_refused_and_never_runs(tmp_path, subcommand):
    marker = tmp_path / "marker"
    with (tmp_path / "evil.ckpt").open("wb") as handle:
        pickle.dump({"state_dict": MakesMarker(marker)}, handle)
    proc = run_logreg(subcommand, "--ckpt_path", "evil.ckpt", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "evil.ckpt", "refused to load")
    assert not marker.exists()


def test_truncated_checkpoint(tmp_path, trained):
    data = trained.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    assert_one_line_error(run_logreg("test", "--ckpt_path", "cut.ckpt", cwd=tmp_path, check=False), "cut.ckpt")


def test_file_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.ckpt").write_text("hello")
    assert_one_line_error(run_logreg("predict", "--ckpt_path", "notes.ckpt", cwd=tmp_path, check=False), "notes.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "tensor.ckpt")
    proc = run_logreg("test", "--ckpt_path", "tensor.ckpt", cwd=tmp_path, check=False)
    assert_one_line_error(proc, "tensor.ckpt", "not a Lightning checkpoint")


def test_checkpoint_of_another_shape(tmp_path, trained):
    proc = run_logreg("test", "--ckpt_path", str(trained), "--data.n_features", "3", "--data.n_samples", "100",
                      cwd=tmp_path, check=False)  # fmt: skip
    assert_one_line_error(proc, str(trained), "takes 1 features, the data has 3")


def test_own_checkpoints_load_with_weights_only(trained):
    checkpoint = torch.load(trained, weights_only=True)
    assert {"state_dict", "hyper_parameters", "optimizer_states"} <= set(checkpoint)


def test_non_finite_loss_stops_the_run_with_epoch_and_step(tmp_path):
    proc = run_logreg("fit", "--data.n_features", "5", "--data.n_samples", "500", "--data.label_noise", "0.2",
                      "--model.lr", "1e38", "--trainer.max_epochs", "3", cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "training loss became nan at epoch 0, step" in line
    for ckpt in (tmp_path / "lightning_logs").rglob("*.ckpt"):  # only finite checkpoints are ever written
        state = torch.load(ckpt, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in state.values())


def test_divergence_after_an_epoch_keeps_the_last_finite_checkpoint(tmp_path):
    # lr 0.5, then x 1e30 per epoch: epoch 1 trains with 5e29, epoch 2's learning rate no longer fits a float
    proc = run_logreg("fit", "--data.n_features", "5", "--data.n_samples", "500", "--optimizer", "SGD",
                      "--optimizer.lr", "0.5", "--lr_scheduler", "ExponentialLR", "--lr_scheduler.gamma", "1e30",
                      "--trainer.max_epochs", "5", cwd=tmp_path, check=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "learning rate became 5e+59 at epoch 2, step 300" in line
    last = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and torch.isfinite(last["state_dict"]["linear.weight"]).all()


def test_four_runs_started_together_each_get_their_own_version(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "logreg", "fit", "--trainer.max_epochs", "2", "--trainer.enable_progress_bar",
               "false"]  # fmt: skip
    procs = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(4)]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err.decode()[-500:] for _, err in outputs]
    runs = run_dirs(tmp_path)
    assert [r.name for r in runs] == ["version_0", "version_1", "version_2", "version_3"]
    for run in runs:
        assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert len(list(run.glob("events.out.tfevents.*"))) >= 1
    best = {str(next(p for p in (r / "checkpoints").iterdir() if p.name != "last.ckpt")) for r in runs}
    assert len(best) == 4


def test_run_logger_claims_versions_that_lightning_would_hand_out_twice(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from logreg.loggers import RunLogger

    # Two runs that pick a version before either has written anything: Lightning lists the directory, so
    # both get version 0 (the race). RunLogger claims the directory as it picks, so the second gets 1.
    plain = [TensorBoardLogger(tmp_path / "plain", name="runs") for _ in range(2)]
    assert [logger.version for logger in plain] == [0, 0]
    claimed = [RunLogger(tmp_path / "claimed", name="runs") for _ in range(2)]
    assert [logger.version for logger in claimed] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "claimed" / "runs").iterdir()) == ["version_0", "version_1"]
