"""Exact resume: a run stopped by a signal mid-epoch and resumed ends bitwise equal to an uninterrupted one; what a
resume keeps (best checkpoint, early stopping's count) and refuses (other data). The real processes (SIGKILL, and the
SIGTERM exit status) are in test_processes.py."""

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import call_main, figures_off, run_dirs
from test_processes import assert_bitwise_equal, states


def test_a_save_that_fails_partway_leaves_the_previous_last_checkpoint_loadable(tmp_path, monkeypatch, tiny_trainer):
    from fsspec.implementations.local import LocalFileOpener
    from lightning.pytorch.callbacks import ModelCheckpoint

    from logreg import LogisticRegression, ThresholdDataModule

    def trainer(epochs):
        last = ModelCheckpoint(dirpath=tmp_path, filename="last", enable_version_counter=False)
        return tiny_trainer(max_epochs=epochs, enable_checkpointing=True, callbacks=[last])

    model, data = LogisticRegression(), ThresholdDataModule()
    trainer(1).fit(model, data)
    before = torch.load(tmp_path / "last.ckpt", weights_only=True)

    original_write = LocalFileOpener.write

    def write_half_then_fail(self, data):
        original_write(self, data[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(LocalFileOpener, "write", write_half_then_fail)
    with pytest.raises(OSError, match="simulated"):
        trainer(2).fit(model, data, ckpt_path=tmp_path / "last.ckpt")
    monkeypatch.undo()

    after = torch.load(tmp_path / "last.ckpt", weights_only=True)  # still whole, still the first epoch
    assert after["epoch"] == before["epoch"] == 0
    assert torch.equal(after["state_dict"]["linear.weight"], before["state_dict"]["linear.weight"])


def test_a_resumed_run_keeps_its_best_checkpoint_and_score(tmp_path, run_cli):
    """lr 40: the best validation loss is early, later epochs are worse; resuming must not forget the early best."""
    run_cli("fit", "--model.lr", "40", "--trainer.max_epochs", "3")
    run = run_dirs(tmp_path)[0]
    last = run / "checkpoints" / "last.ckpt"

    def best(ckpt):
        callbacks = torch.load(ckpt, weights_only=True)["callbacks"]
        [state] = [v for k, v in callbacks.items() if k.startswith("ModelCheckpoint") and "'monitor': 'val_loss'" in k]
        return Path(state["best_model_path"]).name, float(state["best_model_score"])

    before = best(last)
    fit = run_cli("fit", "--config", str(run / "config.yaml"), "--trainer.max_epochs", "4", "--ckpt_path", str(last))
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    val_losses = [e.value for e in events.Scalars("val_loss")]
    assert len(val_losses) == 4 and min(val_losses) < val_losses[-1]  # epoch 3 did not improve on the best
    assert best(last) == before and abs(before[1] - min(val_losses)) < 1e-6
    assert f"best checkpoint    ./lightning_logs/version_0/checkpoints/{before[0]}" in fit.stdout
    assert "\nckpt_path: null\n" in (run / "config.yaml").read_text()  # the config describes the run, not the resume
    run_cli("fit", "--config", str(run / "config.yaml"))
    assert [r.name for r in run_dirs(tmp_path)] == ["version_0", "version_1"]  # a new run, not more of the old one


def test_resuming_on_other_data_is_refused_and_changes_nothing(tmp_path, run_cli):
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_features", "3", "--data.n_samples", "200")
    (tmp_path / "d.csv").write_text("a,label\n" + "".join(f"{i},{int(i > 9)}\n" for i in range(20)))
    run_cli("fit", "--trainer.max_epochs", "1", "--data", "FileDataModule", "--data.path", "d.csv")
    with (tmp_path / "d.csv").open("a") as handle:
        handle.write("20,1\n")  # the file changed after the run
    for run, other in zip(run_dirs(tmp_path), (["--data.data_seed", "5"], []), strict=True):
        config, last = run / "config.yaml", run / "checkpoints" / "last.ckpt"
        before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
        proc = run_cli("fit", "--config", str(config), "--trainer.max_epochs", "2", *other, "--ckpt_path", str(last),
                       check=False)  # fmt: skip
        assert proc.returncode == 2 and "not the data this run was trained on" in proc.stderr, proc.stderr
        changed = "data_seed" if other else "feature_values, label_values, rows, sha256_first_mib, size"
        assert f"({changed} differ" in proc.stderr
        assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize(
    ("flag", "value", "saved"),
    [("split_seed", "7", "0"), ("test_fraction", "0.3", "0.2"), ("val_fraction", "0.1", "0.2"),
     ("standardize", "false", "true")],
)  # fmt: skip
def test_a_resume_with_another_split_or_standardisation_is_refused_and_changes_nothing(
    tmp_path, run_cli, flag, value, saved
):
    """Another split would train on the old run's test rows and score its training rows; the model keeps the
    checkpoint's scaler, so another ``standardize`` would only be written into config.yaml. Both are refused."""
    (tmp_path / "d.csv").write_text("a,label\n" + "".join(f"{i},{int(i % 3 == 0)}\n" for i in range(60)))
    run_cli("fit", "--trainer.max_epochs", "1", "--data", "FileDataModule", "--data.path", "d.csv")
    run = run_dirs(tmp_path)[0]
    config, last = str(run / "config.yaml"), str(run / "checkpoints" / "last.ckpt")
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    proc = run_cli("fit", "--config", config, "--ckpt_path", last, "--trainer.max_epochs", "2", f"--data.{flag}", value,
                   check=False)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr == (
        f"logreg: error: d.csv: --data.{flag} {value} (the checkpoint's: {saved}); a resume continues the run's split "
        "and standardisation: leave these flags out, or start a new run\n"
    )
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    run_cli("fit", "--config", config, "--ckpt_path", last, "--trainer.max_epochs", "2", f"--data.{flag}", saved)


# 400 rows, batch 16: 15 training steps and 5 validation batches per epoch
SMALL = ("fit", "--data.n_features", "3", "--data.n_samples", "400", "--data.label_noise", "0.1",
         "--data.batch_size", "16", "--optimizer", "Adam", "--optimizer.lr", "0.05",
         "--trainer.max_epochs", "3")  # fmt: skip


def val_losses(run):
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("val_loss")]


@pytest.fixture(scope="module")
def straight_small(tmp_path_factory) -> Path:
    """The run directory of SMALL uninterrupted: what each stopped and resumed run must equal."""
    root = tmp_path_factory.mktemp("straight")
    with figures_off():
        call_main(*SMALL, cwd=root)
    return run_dirs(root)[0]


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_run_stopped_mid_epoch_resumes_from_that_step_bitwise(tmp_path, run_cli, signal_at, monkeypatch, signum,
                                                                 code, straight_small):  # fmt: skip
    """last.ckpt is written at the stop (step 20, mid epoch 1), not only at the epoch's end, and the resume goes on
    with the next batch of the same shuffled order."""
    stopped = tmp_path
    signal_at(signum, "training", 20)
    proc = run_cli(*SMALL, cwd=stopped, check=False)
    monkeypatch.undo()
    assert proc.returncode == code, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"logreg: stopped by {signal.Signals(signum).name} at epoch 1, step 20; resume with: ")
    last = run_dirs(stopped)[0] / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 20
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is Python's own again

    run_cli(*line.split("resume with: logreg ")[1].split(), cwd=stopped)
    a, b = straight_small, run_dirs(stopped)[0]
    model_a, optim_a, epoch_a = states(a / "checkpoints" / "last.ckpt")
    model_b, optim_b, epoch_b = states(b / "checkpoints" / "last.ckpt")
    assert epoch_a == epoch_b == 2
    assert_bitwise_equal(model_a, model_b)
    assert_bitwise_equal(optim_a, optim_b)
    assert val_losses(a) == val_losses(b)
    names = [sorted(p.name for p in (run / "checkpoints").iterdir()) for run in (a, b)]
    assert names[0] == names[1]  # the same best checkpoint


def test_a_stop_during_validation_keeps_the_previous_epochs_checkpoint(tmp_path, run_cli, signal_at, monkeypatch):
    """Validation's partial sums are not in checkpoints: last.ckpt stays at epoch 0's end, and the line says so."""
    signal_at(signal.SIGTERM, "validation", 7)  # epoch 1's second validation batch (5 per epoch)
    proc = run_cli(*SMALL, check=False)
    monkeypatch.undo()
    assert proc.returncode == 143, proc.stderr
    said = "at epoch 1, step 30 (during validation; last.ckpt is from step 15, the end of the epoch before)"
    assert said in proc.stderr
    run_cli(*proc.stderr.split("resume with: logreg ")[1].split())
    assert [step for step, _ in val_losses(run_dirs(tmp_path)[0])] == [14, 29, 44]  # epoch 1 validated once, whole


@pytest.fixture(scope="module")
def two_feature_checkpoint(tmp_path_factory) -> Path:
    """last.ckpt of a one-epoch run on 400 rows of 2 features, for the predict commands to stop."""
    root = tmp_path_factory.mktemp("fitted")
    with figures_off():
        call_main("fit", "--trainer.max_epochs", "1", "--data.n_samples", "400", "--data.n_features", "2",
                  "--data.batch_size", "16", cwd=root)  # fmt: skip
    return run_dirs(root)[0] / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_predict_stopped_by_a_signal_writes_no_file(tmp_path, run_cli, signal_at, monkeypatch, signum, code,
                                                    two_feature_checkpoint):  # fmt: skip
    ckpt = two_feature_checkpoint
    signal_at(signum, "predict", 3)
    proc = run_cli("predict", "--ckpt_path", str(ckpt), "--data.n_samples", "400", "--data.n_features", "2",
                   "--data.batch_size", "16", "--predictions", "out.csv", check=False)  # fmt: skip
    monkeypatch.undo()
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip() == (
        f"logreg: stopped by {signal.Signals(signum).name} during predict; no predictions were written"
    )
    assert list(tmp_path.iterdir()) == []  # no out.csv, no temporary file


@pytest.mark.slow
def test_a_run_with_early_stopping_resumed_from_an_earlier_epoch_stops_alike(tmp_path, run_cli, signal_at,
                                                                             monkeypatch):  # fmt: skip
    """EarlyStopping's count of epochs without improvement is in the checkpoint: a run thrown back to an earlier
    epoch (a stop during validation keeps the previous epoch's last.ckpt, as a kill would) stops at the same epoch
    with the same weights."""
    args = ("fit", "--early_stopping.patience", "2", "--early_stopping.min_delta", "0.01")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    straight.mkdir(), stopped.mkdir()
    fit = run_cli(*args, cwd=straight)
    stop_epoch = int(fit.stdout.split("stopped early at epoch ")[1].split()[0])
    assert stop_epoch >= 4
    signal_at(signal.SIGTERM, "validation", 4 * (stop_epoch - 2) + 2)  # 4 validation batches per epoch
    proc = run_cli(*args, cwd=stopped, check=False)
    monkeypatch.undo()
    assert proc.returncode == 143 and "during validation" in proc.stderr, proc.stderr
    resumed = run_cli(*proc.stderr.split("resume with: logreg ")[1].split(), cwd=stopped)
    assert f"stopped early at epoch {stop_epoch} " in resumed.stdout
    model_a, optim_a, epoch_a = states(run_dirs(straight)[0] / "checkpoints" / "last.ckpt")
    model_b, optim_b, epoch_b = states(run_dirs(stopped)[0] / "checkpoints" / "last.ckpt")
    assert epoch_a == epoch_b == stop_epoch
    assert_bitwise_equal(model_a, model_b)
    assert_bitwise_equal(optim_a, optim_b)


def test_sigterm_before_training_is_one_line_and_leaves_nothing(tmp_path, run_cli, monkeypatch):
    """While the command still parses and reads its data, SIGTERM stops it as an error would: one line, exit 143."""
    from logreg.data.threshold import ThresholdDataModule

    original = ThresholdDataModule.__init__

    def init(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ThresholdDataModule, "__init__", init)
    proc = run_cli("fit", check=False)
    assert (proc.returncode, proc.stderr) == (143, "logreg: stopped by SIGTERM\n")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_model_flags_beside_a_checkpoint_are_refused_not_replaced(tmp_path, run_cli, two_feature_checkpoint):
    """LightningCLI replaces the model's settings by the checkpoint's: a flag that would be dropped is refused."""
    ckpt = str(two_feature_checkpoint)
    for command in ("test", "validate", "predict"):
        proc = run_cli(command, "--ckpt_path", ckpt, "--model.threshold", "0.8", check=False)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("logreg: error: --model.threshold 0.8: the checkpoint's model has threshold 0.5")
        assert f"{command} evaluates the checkpoint's model as fitted" in proc.stderr or command == "predict"
    assert "predict takes --threshold" in proc.stderr
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200", "--model.lr", "0.5")
    run = run_dirs(tmp_path)[0]
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    resume = ("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    proc = run_cli(*resume, "--trainer.max_epochs", "2", "--model.pos_weight", "5", check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "--model.pos_weight 5.0: the checkpoint's model has pos_weight None; a resume continues" in proc.stderr
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before  # nothing rewritten
    run_cli(*resume, "--trainer.max_epochs", "2", "--model.lr", "0.5")  # the fit's own value: resumed
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200", "--data.batch_size", "0", "--model.C", "1")
    penalised = run_dirs(tmp_path)[1]
    again = ("fit", "--config", str(penalised / "config.yaml"), "--ckpt_path", str(penalised / "checkpoints/last.ckpt"),
             "--trainer.max_epochs", "2")  # fmt: skip
    proc = run_cli(*again, "--model.C", "5", check=False)  # C is saved as the l2 it gave, and beside it as given
    assert proc.returncode == 2 and "--model.C 5.0: the checkpoint's model has C 1.0; a resume" in proc.stderr
    run_cli(*again, "--model.C", "1")
    assert "test_acc" in run_cli("test", "--ckpt_path", ckpt, "--model.threshold", "0.5").stdout  # the fit's own value


def test_a_run_without_penalty_resumes_with_its_own_config_and_repeats_its_c(tmp_path, run_cli):
    """``--model.C inf`` (or ``none``) reaches the checkpoint as the float inf: the words, repeated by the run's
    config.yaml or a flag, are the fit's own value (they were refused as 'inf' != inf); another C is still refused,
    also after the resume."""
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200", "--data.label_noise", "0.2",
            "--data.batch_size", "0", "--model.C", "inf")  # fmt: skip
    run = run_dirs(tmp_path)[0]
    last = str(run / "checkpoints" / "last.ckpt")
    for word in ("inf", "none"):
        assert "test_acc" in run_cli("test", "--ckpt_path", last, "--model.C", word).stdout
    proc = run_cli("test", "--ckpt_path", last, "--model.C", "5", check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("logreg: error: --model.C 5.0: the checkpoint's model has C inf; test evaluates")
    resume = ("fit", "--config", str(run / "config.yaml"), "--ckpt_path", last, "--trainer.max_epochs", "2")
    proc = run_cli(*resume, "--model.C", "1", check=False)
    assert proc.returncode == 2 and "--model.C 1.0: the checkpoint's model has C inf; a resume" in proc.stderr
    run_cli(*resume)
    resumed = torch.load(last, weights_only=True)  # its C kept, though LightningCLI rebuilt the model with C null
    assert resumed["epoch"] == 1 and resumed["C"] == float("inf")
    proc = run_cli("test", "--ckpt_path", last, "--model.C", "5", check=False)  # (was taken, and ignored)
    assert proc.returncode == 2 and "--model.C 5.0: the checkpoint's model has C inf" in proc.stderr, proc.stderr
    for args in (resume, ("test", "--ckpt_path", last)):  # an l2 beside the fit's own C: compared (was ignored)
        proc = run_cli(*args, "--model.C", "inf", "--model.l2", "5", check=False)
        assert proc.returncode == 2 and "--model.l2 5.0: the checkpoint's model has l2 0.0" in proc.stderr, proc.stderr


def test_a_c_beside_a_checkpoint_fitted_without_c_is_refused(tmp_path, run_cli):
    """A run fitted with ``--model.l2`` (or the default, l2 0) keeps no C: a C given to a resume or to test was taken
    and ignored (the checkpoint's l2 went on). Only C inf (no penalty) on an unpenalised run means the same."""
    fit = ("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200")
    run_cli(*fit, "--model.l2", "0.05")
    run_cli(*fit)
    penalised, plain = run_dirs(tmp_path)
    for run, C, l2 in ((penalised, "1000", 0.05), (penalised, "inf", 0.05), (plain, "0.01", 0.0)):
        last = str(run / "checkpoints" / "last.ckpt")
        before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
        for args in (("fit", "--config", str(run / "config.yaml"), "--ckpt_path", last, "--trainer.max_epochs", "2"),
                     ("test", "--ckpt_path", last)):  # fmt: skip
            proc = run_cli(*args, "--model.C", C, check=False)
            assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
            assert f"--model.C {float(C)}: the checkpoint's model has l2 {l2} (no C); " in proc.stderr, proc.stderr
        assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    assert "test_acc" in run_cli("test", "--ckpt_path", str(plain / "checkpoints/last.ckpt"), "--model.C", "inf").stdout
    run_cli("fit", "--config", str(penalised / "config.yaml"), "--ckpt_path", str(penalised / "checkpoints/last.ckpt"),
            "--trainer.max_epochs", "2")  # fmt: skip
    assert torch.load(penalised / "checkpoints/last.ckpt", weights_only=True)["hyper_parameters"]["l2"] == 0.05


def test_a_resume_with_other_optimizer_settings_is_refused(tmp_path, run_cli):
    """Lightning loads the checkpoint's param groups: a resume given another lr or weight_decay went on with the
    saved ones while config.yaml recorded the new. Refused naming both; the run's own config.yaml resumes."""
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200", "--optimizer", "AdamW", "--optimizer.lr",
            "0.003", "--optimizer.betas", "[0.8, 0.95]")  # fmt: skip
    run = run_dirs(tmp_path)[0]
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    resume = ("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
              "--trainer.max_epochs", "2")  # fmt: skip
    for flag, value, saved in (("lr", "0.5", "0.003"), ("weight_decay", "0.5", "0.01"), ("betas", "[0.9, 0.95]",
                               "(0.8, 0.95)")):  # fmt: skip
        proc = run_cli(*resume, f"--optimizer.{flag}", value, check=False)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith(f"logreg: error: --optimizer.{flag} "), proc.stderr
        assert f"the checkpoint's optimizer has {flag} {saved}, which a resume loads" in proc.stderr
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    run_cli(*resume, "--optimizer.lr", "0.003")
    group = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["optimizer_states"][0]["param_groups"][0]
    assert (group["lr"], group["weight_decay"], tuple(group["betas"])) == (0.003, 0.01, (0.8, 0.95))
    run_cli("fit", "--trainer.max_epochs", "2", "--data.n_samples", "200", "--optimizer", "Adam", "--optimizer.lr",
            "0.01", "--lr_scheduler", "StepLR", "--lr_scheduler.step_size", "1")  # fmt: skip
    run = run_dirs(tmp_path)[-1]  # saved lr 0.0001, initial_lr 0.01 (which was taken for another optimizer class)
    resume = ("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    proc = run_cli(*resume, "--trainer.max_epochs", "3", "--optimizer.lr", "0.1", check=False)
    assert proc.returncode == 2 and "--optimizer.lr 0.1: the checkpoint's optimizer has lr 0.01," in proc.stderr
    run_cli(*resume, "--trainer.max_epochs", "3")


def test_a_resume_with_another_optimizer_is_one_line(tmp_path, run_cli):
    """Adam would load SGD's optimizer state and fail at its first step (KeyError 'betas'); the run is untouched.
    AdamW on Adam's state would quietly go on as Adam."""
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200")
    run = run_dirs(tmp_path)[0]
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    proc = run_cli("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
                   "--trainer.max_epochs", "2", "--optimizer", "Adam", check=False)  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("logreg: error: --optimizer Adam: the checkpoint was trained with SGD, ")
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    run_cli("fit", "--trainer.max_epochs", "1", "--data.n_samples", "200", "--optimizer", "Adam")
    run = run_dirs(tmp_path)[1]  # AdamW would load Adam's state and its decoupled_weight_decay false: Adam again
    proc = run_cli("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints" / "last.ckpt"),
                   "--trainer.max_epochs", "2", "--optimizer", "AdamW", check=False)  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("logreg: error: --optimizer AdamW: the checkpoint was trained with Adam, ")


def test_rows_changed_past_the_first_mib_at_the_same_size_are_refused_by_name(tmp_path, run_cli):
    """The fingerprint covers every row's values, not only the file's size and first MiB: labels flipped, or two
    columns swapped, in the last rows of a 1.2 MB file (same size) are refused by test and by a resume, naming what
    changed. A checkpoint saved before those checksums existed is compared on the keys it has."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30000, 4))
    y = (x[:, 0] + rng.normal(size=len(x)) > 0).astype(int)
    text = "a,b,c,d,label\n" + "".join(",".join([*(f"{v:.6f}" for v in row), str(k)]) + "\n"
                                       for row, k in zip(x, y, strict=True))  # fmt: skip
    cut = text.index("\n", 2**20) + 1  # the rows past the first MiB
    head, tail = text[:cut], text[cut:]
    flipped = tail.replace(",1\n", ",X\n").replace(",0\n", ",1\n").replace(",X\n", ",0\n")
    swapped = "".join(",".join([f[1], f[0], *f[2:]]) + "\n" for f in (line.split(",") for line in tail.splitlines()))
    (tmp_path / "d.csv").write_text(text)
    run_cli("fit", "--config", "tabular", "--data.path", "d.csv", "--trainer.max_epochs", "2")
    run = run_dirs(tmp_path)[0]
    config, last = str(run / "config.yaml"), str(run / "checkpoints" / "last.ckpt")
    for changed, key in ((flipped, "label_values"), (swapped, "feature_values")):
        assert len(changed) == len(tail) and changed != tail
        (tmp_path / "d.csv").write_text(head + changed)
        test = run_cli("test", "--ckpt_path", last, check=False)
        assert test.returncode == 2 and test.stderr == (
            f"logreg: error: d.csv: changed since the fit ({key} differ from the checkpoint's), so its test rows are "
            "not the run's; to test on it as new data, name it: --data.path d.csv\n"
        )
        resume = run_cli("fit", "--config", config, "--ckpt_path", last, "--trainer.max_epochs", "3", check=False)
        assert resume.returncode == 2 and f"not the data this run was trained on ({key} differ" in resume.stderr
    (tmp_path / "d.csv").write_text(text)
    checkpoint = torch.load(last, weights_only=True)
    for key in ("feature_values", "label_values"):
        del checkpoint["FileDataModule"]["fingerprint"][key]
    torch.save(checkpoint, run / "checkpoints" / "old.ckpt")
    old = run_cli("test", "--ckpt_path", str(run / "checkpoints" / "old.ckpt"))
    assert "logreg: " not in old.stderr and "scored  the test split" not in old.stdout and "test_acc" in old.stdout
