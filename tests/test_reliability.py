"""Checkpoints that load as data, non-finite training, and the version a run claims.

Runs started together as real processes (the race for ``version_N``) are in test_processes.py.
Bad checkpoints (a crafted pickle, truncated, not a checkpoint, no state_dict, another shape) are rows of the
table in test_bad_inputs.py.
"""

import os

import torch

from conftest import run_dirs


def test_own_checkpoints_load_with_weights_only(tmp_path, run_cli):
    run_cli("fit", "--trainer.max_epochs", "2")
    checkpoint = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)
    assert {"state_dict", "hyper_parameters", "optimizer_states"} <= set(checkpoint)


def test_non_finite_loss_stops_the_run_with_epoch_and_step(tmp_path, run_cli):
    proc = run_cli("fit", "--data.n_features", "5", "--data.n_samples", "500", "--data.label_noise", "0.2",
                   "--model.lr", "1e38", "--trainer.max_epochs", "3", check=False)  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert "training loss became nan at epoch 0, step" in line
    for ckpt in (tmp_path / "lightning_logs").rglob("*.ckpt"):  # only finite checkpoints are ever written
        state = torch.load(ckpt, weights_only=True)["state_dict"]
        assert all(torch.isfinite(t).all() for t in state.values())


def test_divergence_after_an_epoch_keeps_the_last_finite_checkpoint(tmp_path, run_cli):
    # lr 0.5, then x 1e30 per epoch: epoch 1 trains with 5e29, epoch 2's learning rate no longer fits a float
    proc = run_cli("fit", "--data.n_features", "5", "--data.n_samples", "500", "--data.batch_size", "10",
                   "--optimizer", "SGD", "--optimizer.lr", "0.5", "--lr_scheduler", "ExponentialLR",
                   "--lr_scheduler.gamma", "1e30", "--trainer.max_epochs", "5", check=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "learning rate became 5e+59 at epoch 2, step 60" in line  # 300 training rows: 30 steps per epoch
    last = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 1 and torch.isfinite(last["state_dict"]["linear.weight"]).all()


def test_claimed_versions_are_never_handed_out_twice(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from logreg.training import claim_version

    # Two runs that pick a version before either has written anything: Lightning lists the directory, so
    # both get version 0 (the race). claim_version creates the directory as it picks, so the second gets 1.
    plain = [TensorBoardLogger(tmp_path / "plain", name="runs") for _ in range(2)]
    assert [logger.version for logger in plain] == [0, 0]
    assert [claim_version(tmp_path / "claimed" / "runs") for _ in range(2)] == [0, 1]
    (tmp_path / "claimed" / "runs" / "version_7").mkdir()
    assert claim_version(tmp_path / "claimed" / "runs") == 8  # after the highest, as Lightning counts
    assert sorted(p.name for p in (tmp_path / "claimed" / "runs").iterdir()) == ["version_0", "version_1",
                                                                                 "version_7", "version_8"]  # fmt: skip


def test_a_full_disk_is_one_line_and_leaves_the_previous_files(tmp_path, monkeypatch, run_cli):
    """ENOSPC while writing predictions, then while saving a checkpoint: one line each, exit 2, nothing partial."""
    import errno

    from fsspec.implementations.local import LocalFileOpener

    import logreg.writes

    run_cli("fit", "--trainer.max_epochs", "1")
    last = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    class FullFile:
        def __init__(self, fd, *args, **kwargs):
            self.fd = fd

        write = disk_full

        def close(self):
            os.close(self.fd)

    monkeypatch.setattr(logreg.writes.os, "fdopen", FullFile)
    proc = run_cli("predict", "--ckpt_path", str(last), "--predictions", "out.csv", check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "logreg: error: --predictions out.csv: cannot write (No space left on device)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lightning_logs"]  # no out.csv, no .out.csv.*.tmp
    monkeypatch.undo()

    monkeypatch.setattr(LocalFileOpener, "write", disk_full)
    proc = run_cli("fit", "--config", str(last.parent.parent / "config.yaml"), "--trainer.max_epochs", "2",
                   "--ckpt_path", str(last), check=False)  # fmt: skip
    monkeypatch.undo()
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "logreg: error: [Errno 28] No space left on device"
    ]
    assert last.read_bytes() == before
