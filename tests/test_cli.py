"""The ``logreg`` command end to end, as a user runs it: in-process through ``logreg.cli.main``, and once as a
real ``python -m logreg`` process for what only the process shows (its exit status and stderr)."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import CONFIGS, call_main, figures_off, run_dirs, run_logreg
from logreg import FileDataModule

FAST = ("--trainer.max_epochs", "3")


def tutorial_loop() -> tuple[float, float, float]:
    """The tutorial's plain PyTorch code (seed 0, BCELoss, SGD lr 2, batch 2, 50 epochs): weight, bias, accuracy."""
    from torch.utils.data import DataLoader, Dataset

    torch.manual_seed(0)

    class Data(Dataset):
        def __init__(self):
            self.x = torch.arange(-2, 2, 0.1).view(-1, 1)
            self.y = torch.zeros(self.x.shape[0], 1)
            self.y[self.x[:, 0] > 0.2] = 1

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]

        def __len__(self):
            return len(self.x)

    data = Data()
    linear = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(linear.parameters(), lr=2)
    criterion = torch.nn.BCELoss()
    for _ in range(50):
        for x, y in DataLoader(data, batch_size=2):
            loss = criterion(torch.sigmoid(linear(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    accuracy = ((torch.sigmoid(linear(data.x)) > 0.5).float() == data.y).float().mean().item()
    return linear.weight.item(), linear.bias.item(), accuracy


@pytest.mark.slow
def test_tutorial_config_reproduces_the_tutorial_loop(tmp_path, run_cli):
    proc = run_cli("fit", "--config", str(CONFIGS / "tutorial.yaml"))
    [run] = run_dirs(tmp_path)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    weight, bias, accuracy = tutorial_loop()
    assert abs(state["linear.weight"].item() - weight) < 1e-5
    assert abs(state["linear.bias"].item() - bias) < 1e-5
    assert accuracy == 1.0
    x = torch.arange(-2, 2, 0.1).view(-1, 1)
    ours = (torch.sigmoid(x * state["linear.weight"].item() + state["linear.bias"].item()) > 0.5).float()
    assert torch.equal(ours.view(-1), (x.view(-1) > 0.2).float())
    assert "train_acc          1.0000" in proc.stdout
    # the tutorial's data is separable by design: one summary line says so, no warning (a user's data gets one)
    assert "no minimum, as expected: the tutorial's data is separable by design" in proc.stdout
    assert "logreg: warning" not in proc.stderr


def test_fit_checkpoint_test_predict_end_to_end(tmp_path, run_cli):
    """(The figures of this same command, ``fit --trainer.max_epochs 3``, are drawn and read back through the
    TensorBoard server in test_tensorboard.py: here they are not drawn.)"""
    fit = run_cli("fit", *FAST)
    for word in (
        "train_loss",
        "val_acc",
        "weight",
        "bias",
        "decision boundary",
        "best checkpoint",
        "tensorboard --logdir lightning_logs",
        "test_acc",
        "SGD(lr=2)",  # the optimizer and the lr that trained the model
    ):
        assert word in fit.stdout, word
    [run] = run_dirs(tmp_path)
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    best = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert len(best) == 1

    test = run_cli("test", "--ckpt_path", str(best[0]), "--trainer.default_root_dir", "elsewhere")
    assert "test_acc" in test.stdout
    assert [r.name for r in run_dirs(tmp_path / "elsewhere")] == ["version_0"]  # the test run went where asked
    run_cli("predict", "--ckpt_path", str(best[0]))
    assert run_dirs(tmp_path) == [run]  # predict logs nothing and leaves no run directory

    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "test_loss",
        "test_acc",
        "weight",
        "bias",
        "hp_metric",
    } <= scalars
    assert len(events.Scalars("train_loss")) == 3
    assert events.Scalars("val_acc")[-1].value > 0.5


def test_saved_config_reproduces_the_run(tmp_path, run_cli):
    run_cli("fit", *FAST, "--data.n_features", "3", "--data.n_samples", "200", "--data.batch_size", "20",
            "--model.lr", "0.5")  # fmt: skip
    first = run_dirs(tmp_path)[0]
    run_cli("fit", "--config", str(first / "config.yaml"))
    second = run_dirs(tmp_path)[1]
    a = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(a["linear.weight"], b["linear.weight"]) and torch.equal(a["linear.bias"], b["linear.bias"])
    assert a["linear.weight"].shape == (1, 3)  # n_inputs came from the data


def test_without_validation_the_best_checkpoint_follows_train_loss(tmp_path, run_cli):
    run_cli("fit", *FAST, "--data.val_fraction", "0")
    [run] = run_dirs(tmp_path)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    callbacks = ckpt["callbacks"].items()
    [state] = [v for k, v in callbacks if k.startswith("ModelCheckpoint") and "'monitor': 'train_loss'" in k]
    assert state["best_model_path"] and state["best_model_score"] is not None


# One fresh process (each costs seconds of ``import lightning``) for what only a process shows: ``logreg --help``
# through ``main``, then the modules it loaded, then ``python -m logreg MISSING`` (what ``-m`` runs, by runpy): its
# stdout and stderr, exit status and directory.
MISSING = ("fit", "--data", "FileDataModule", "--data.path", "missing.csv")
PROCESS = f"""
import runpy, sys
from logreg.cli import main

try:
    main(["--help"])
except SystemExit as end:
    print("help exited", end.code)
print(sorted(m for m in ("pyarrow", "tensorboard") if m in sys.modules))
try:
    main(["fit", "--data", "FileDataModule", "--data.path", "d", "--print_config"])  # (parses its signature)
except SystemExit as end:
    print("print_config exited", end.code)
print(sorted(m for m in ("pyarrow", "tensorboard") if m in sys.modules))
sys.argv = ["logreg", *{MISSING!r}]
runpy.run_module("logreg", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def process(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """:data:`PROCESS` run in a fresh, empty directory: ``(the finished process, its directory)``."""
    script = tmp_path_factory.mktemp("script") / "process.py"
    script.write_text(PROCESS)
    root = tmp_path_factory.mktemp("process")
    return run_logreg(script=script, cwd=root, timeout=120, check=False), root


@pytest.mark.slow
def test_the_console_command_exits_2_with_one_line_on_stderr(process):
    """The real process: exit status 2, one ``logreg: error:`` line on stderr, no traceback, nothing written.

    (The in-process tests see ``main``'s ``SystemExit``; this one sees what a shell sees.)"""
    # (also: a fresh process finds FileDataModule by its short name, without the tests having imported it)
    proc, root = process
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert lines == ["logreg: error: missing.csv: file not found"], proc.stderr
    assert list(root.iterdir()) == []


def test_convert_runs_without_torch_or_lightning(tmp_path):
    """``logreg convert`` is for files larger than memory: its process never imports the frameworks."""
    (tmp_path / "d.csv").write_text("a,label\n1,no\n2,yes\n")
    code = ("import sys; from logreg.cli import main; main(['convert', 'd.csv', 'out']); "
            "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["wrote out: 2 rows x 1 features (labels 0 = 'no', 1 = 'yes')", "[]"]


@pytest.mark.parametrize(("args", "code"), [(["--version"], 0), ([], 2), (["convert", "missing.csv", "out"], 2)])
def test_the_console_command_ends_with_mains_code_and_output_and_skips_teardown(tmp_path, args, code):
    """``console`` (the ``logreg`` script, ``python -m logreg``): main's exit code, its output flushed into a pipe,
    and no interpreter teardown (an ``atexit`` handler does not run); ``main`` itself leaves the process to its
    caller (every in-process test)."""
    script = "import atexit; atexit.register(print, 'teardown ran'); from logreg.cli import console; console()"
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert "teardown ran" not in proc.stdout
    expected = {0: "logreg ", 2: "logreg: error: missing.csv" if args else "usage: logreg"}[code]
    assert expected in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_main_leaves_no_process_group_to_the_interpreters_teardown(tmp_path):
    """A gloo process group a distributed run left (for the process's later runs) and nobody destroyed can abort the
    process at exit after a run that succeeded ("terminate called without an active exception", -6; 2 of 15 two-rank
    scripts here): after ``main``, it is destroyed at exit, before the handlers registered earlier run."""
    script = (
        "import atexit, os, torch.distributed as dist; from logreg.cli import main\n"
        "atexit.register(lambda: print('group at exit:', dist.is_initialized()))  # runs after main's handler\n"
        "os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT='0')\n"
        "dist.init_process_group('gloo', rank=0, world_size=1)\n"
        "try:\n    main(['convert', 'missing.csv', 'out'])\nexcept SystemExit as end:\n    print('exit', end.code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["exit 2", "group at exit: False"]


@pytest.mark.slow
def test_help_imports_neither_pyarrow_nor_tensorboard(process):
    """What only some runs need is imported when first used: ``logreg --help`` (and a fit on the built-in data)
    reads no file and writes no event, so its process loads neither pyarrow nor TensorBoard's writer; parsing a
    FileDataModule's arguments (as every fit of a ``.npy`` directory does) loads no pyarrow."""
    proc, _ = process
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert "usage: logreg" in proc.stdout
    lines = proc.stdout.splitlines()
    assert lines[lines.index("help exited 0") + 1] == "[]"
    assert "    path: d" in lines
    assert lines[-2] == "print_config exited 0" and "pyarrow" not in lines[-1]  # (its logger loads TensorBoard)


def test_ctrl_c_is_one_line_and_exit_code_130(monkeypatch, run_cli):
    import logreg.cli.lightning

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(logreg.cli.lightning, "build_cli", interrupted)
    proc = run_cli("fit", check=False)
    assert proc.returncode == 130 and proc.stderr.strip() == "logreg: interrupted"


def test_checkpointing_off_trains_without_checkpoints(tmp_path, run_cli):
    """``--trainer.enable_checkpointing false`` is a wish, not a mistake: logreg's last/best callbacks step aside."""
    fit = run_cli("fit", "--trainer.enable_checkpointing", "false", "--trainer.max_epochs", "2")
    [run] = run_dirs(tmp_path)
    assert not (run / "checkpoints").exists() and not list(tmp_path.rglob("*.ckpt"))
    assert "best checkpoint" not in fit.stdout and "test_acc" in fit.stdout  # the final weights are tested


def test_an_optimizer_left_at_its_default_lr_says_so(run_cli):
    """``--optimizer SGD`` alone trains with torch's lr 0.001, not ``--model.lr``: one line says so at the start."""
    quiet = run_cli("fit", "--trainer.max_epochs", "1", "--optimizer", "SGD", "--optimizer.lr", "0.5")
    noted = run_cli("fit", "--trainer.max_epochs", "1", "--optimizer", "SGD")
    assert "logreg: note" not in quiet.stderr and "SGD(lr=0.5)" in quiet.stdout
    assert [line for line in noted.stderr.splitlines() if "note" in line] == [
        "logreg: note: training with SGD(lr=0.001), its default; --model.lr 2 applies only without --optimizer "
        "(set --optimizer.lr)"
    ]


def test_an_optimizer_given_its_default_lr_is_not_told_it_is_a_default(run_cli):
    """The note is for an lr the user left out; ``--optimizer.lr 0.001`` spelt out is their choice, said nowhere."""
    given = run_cli("fit", "--trainer.max_epochs", "1", "--optimizer", "SGD", "--optimizer.lr", "0.001")
    assert "logreg: note" not in given.stderr and "SGD(lr=0.001)" in given.stdout


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """One fit on a CSV, named by ``--data.path`` alone (a path means FileDataModule), with noisy labels: the fit's
    directory, whose ``d.csv`` the run's config and checkpoint name by a relative path."""
    root = tmp_path_factory.mktemp("csvrun")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    y = (x @ [1.5, -1.0] + rng.normal(scale=0.8, size=80) > 0).astype(int)
    with (root / "d.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["a", "b", "label"], *[[f"{a:.6f}", f"{b:.6f}", label] for (a, b), label in
                                                             zip(x, y, strict=True)]])  # fmt: skip
    with figures_off():
        call_main("fit", "--trainer.max_epochs", "2", "--data.path", "d.csv", cwd=root)
    return root


def by_hand(run, rows):
    """Probabilities of ``rows`` (N, 2) from the checkpoint's tensors: standardise, weights, bias, sigmoid."""
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    z = (torch.tensor(rows, dtype=torch.float32) - state["feature_mean"]) / state["feature_scale"]
    return torch.sigmoid(z @ state["linear.weight"].T + state["linear.bias"]).view(-1).numpy()


def printed(stdout, metric):
    return float(next(line.split()[1] for line in stdout.splitlines() if line.startswith(metric + " ")))


def test_validate_test_and_predict_reuse_the_runs_data(csv_run, tmp_path):
    """Without --data flags, from another directory: test scores the run's test rows, validate its validation rows,
    predict every row of its file, each equal to the checkpoint's weights applied by hand (scikit-learn's scores)."""
    from sklearn.metrics import accuracy_score, log_loss

    [run] = run_dirs(csv_run)
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["class_path"] == "logreg.FileDataModule"
    ckpt = str(run / "checkpoints" / "last.ckpt")
    test = call_main("test", "--ckpt_path", ckpt, cwd=tmp_path)
    validate = call_main("validate", "--ckpt_path", ckpt, cwd=tmp_path)
    call_main("predict", "--ckpt_path", ckpt, "--predictions", "p.csv", cwd=tmp_path)
    table = np.loadtxt(csv_run / "d.csv", delimiter=",", skiprows=1)
    x, y = table[:, :2], table[:, 2].astype(int)
    p = by_hand(run, x)
    split = FileDataModule(csv_run / "d.csv")
    split.setup("fit")
    for out, prefix, rows in ((test.stdout, "test", split.test_idx), (validate.stdout, "val", split.val_idx)):
        rows = rows.numpy()
        assert abs(printed(out, f"{prefix}_acc") - accuracy_score(y[rows], p[rows] > 0.5)) < 1e-4
        assert abs(printed(out, f"{prefix}_loss") - log_loss(y[rows], p[rows], labels=[0, 1])) < 1e-4
    with (tmp_path / "p.csv").open() as handle:
        predictions = list(csv.DictReader(handle))
    assert [int(row["label"]) for row in predictions] == y.tolist()  # every row of the run's file, in order
    where = np.full(len(y), "train", dtype=object)
    where[split.val_idx.numpy()], where[split.test_idx.numpy()] = "val", "test"
    assert [row["split"] for row in predictions] == where.tolist()  # and where each row went in the run
    assert np.allclose([float(row["probability"]) for row in predictions], p, atol=1e-6)


def test_a_run_whose_file_changed_says_so(csv_run, tmp_path):
    """The checkpoint keeps the file's fingerprint: test refuses a changed file (its test split is no longer the
    run's) in one line; predict says so and predicts the rows as they are now."""
    shutil.copytree(csv_run, tmp_path / "copy")
    with (tmp_path / "copy" / "d.csv").open("a") as handle:
        handle.write("0.5,0.5,1\n")
    ckpt = str(run_dirs(tmp_path / "copy")[0] / "checkpoints" / "last.ckpt")
    test = call_main("test", "--ckpt_path", ckpt, cwd=tmp_path, check=False)
    changed = "logreg: error: copy/d.csv: changed since the fit (feature_values, label_values, rows, "
    assert test.returncode == 2 and test.stderr.startswith(changed)
    assert len(test.stderr.strip().splitlines()) == 1 and "to test on it as new data" in test.stderr
    predict = call_main("predict", "--ckpt_path", ckpt, cwd=tmp_path)
    assert predict.stderr.startswith("logreg: note: copy/d.csv changed since the fit") and "81 rows" in predict.stdout


def test_data_with_other_feature_columns_is_refused_naming_them(csv_run, tmp_path):
    """An extra, a missing or a renamed column: one line naming the file and the columns, not the checkpoint."""
    ckpt = str(run_dirs(csv_run)[0] / "checkpoints" / "last.ckpt")
    rows = (csv_run / "d.csv").read_text().splitlines()[1:]
    (tmp_path / "extra.csv").write_text("a,b,label,extra\n" + "".join(f"{row},1.0\n" for row in rows))
    (tmp_path / "missing.csv").write_text("a,label\n" + "".join(f"{row.split(',', 1)[0]},1\n" for row in rows))
    (tmp_path / "renamed.csv").write_text("a,c,label\n" + "\n".join(rows) + "\n")
    for command, name, diff in (("predict", "extra", "['a', 'b', 'extra'] differ from the checkpoint's ['a', 'b'] "
                                 "(extra: 'extra')"), ("test", "missing", "['a'] differ from the checkpoint's ['a', "
                                 "'b'] (missing: 'b')"), ("predict", "renamed", "['a', 'c'] differ from the "
                                 "checkpoint's ['a', 'b'] (extra: 'c'; missing: 'b')")):  # fmt: skip
        proc = call_main(command, "--ckpt_path", ckpt, "--data.path", f"{name}.csv", cwd=tmp_path, check=False)
        assert proc.returncode == 2 and proc.stderr == f"logreg: error: {name}.csv: feature columns {diff}\n"


def test_testing_the_runs_data_split_otherwise_warns_that_trained_rows_may_be_scored(csv_run, tmp_path):
    """The run's own file with another split seed: its test rows overlap the training rows, so the metrics are not
    held out; said on stderr, once (the run's own split says nothing)."""
    ckpt = str(run_dirs(csv_run)[0] / "checkpoints" / "last.ckpt")
    other = call_main("test", "--ckpt_path", ckpt, "--data.split_seed", "1", cwd=tmp_path)
    assert other.stderr.startswith("logreg: warning: ") and "(split_seed differ from the checkpoint's)" in other.stderr
    assert "test rows may include rows the model was trained on" in other.stderr
    assert "logreg: warning" not in call_main("test", "--ckpt_path", ckpt, cwd=tmp_path).stderr


def test_runs_without_a_logger_or_named_get_directories_of_their_own(tmp_path, run_cli):
    """``--trainer.logger false`` twice in one directory: two runs, each its own version_N with its config and
    checkpoints (nothing written into the directory itself); ``--trainer.logger.version NAME`` names the run. A
    fit without a test split says it tested nothing."""
    fast = ("fit", "--trainer.max_epochs", "1", "--data.test_fraction", "0")
    fits = [run_cli(*fast, "--trainer.logger", "false") for _ in range(2)]
    run_cli(*fast, "--trainer.logger.version", "mine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lightning_logs"]
    runs = [*run_dirs(tmp_path), tmp_path / "lightning_logs" / "mine"]
    assert [run.name for run in runs] == ["version_0", "version_1", "mine"]
    for run in runs:  # each with its coefficient table, as every fit writes it
        assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert (run / "coefficients.csv").is_file()
    assert "lightning_logs/version_0/coefficients.csv (final weights)" in fits[0].stdout  # and says where
    saved = yaml.safe_load((runs[0] / "config.yaml").read_text())["trainer"]
    assert (saved["logger"], saved["default_root_dir"]) == (False, None)  # the run as given: it reproduces
    resumed = run_cli("fit", "--config", str(runs[0] / "config.yaml"), "--ckpt_path",
                      str(runs[0] / "checkpoints" / "last.ckpt"), "--trainer.max_epochs", "2")  # fmt: skip
    assert run_dirs(tmp_path) == runs[:2] and "test_acc" not in resumed.stdout  # into its own directory
    assert len(list((runs[0] / "checkpoints").glob("best-*.ckpt"))) == 1  # "best" kept its history: one best file
    assert "tested  nothing: the data has no test split (--data.test_fraction 0)" in fits[0].stdout
    assert "test_acc" not in fits[0].stdout


def test_a_yaml_alias_in_the_environment_is_refused(run_cli, monkeypatch):
    """PL_CONFIG is loaded by jsonargparse like --config: an alias there is refused in one line too."""
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    monkeypatch.setenv("PL_CONFIG", "fit:\n  model: &m {lr: 0.5}\ntest:\n  model: *m\n")
    proc = run_cli("fit", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("logreg: error: ") and "uses YAML aliases (*name)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_whole_number_of_batches_is_a_count(tmp_path, run_cli):
    """``--trainer.limit_train_batches 3`` is three batches, as Lightning takes an int (jsonargparse parses 3.0)."""
    run_cli("fit", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3")
    [run] = run_dirs(tmp_path)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3


def test_predictions_score_as_the_test_did_whatever_the_labels_spelling(tmp_path, run_cli):
    """Labels written several ways (1/true/True/1.0, 0/false/False/0.0) are two classes: the predictions' ``label``
    names each row's class as ``predicted_label`` does, so the test rows' accuracy from the file is the printed one."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    y = (x @ [1.0, -1.0] + rng.normal(scale=1.0, size=60) > 0).astype(int)
    spellings = (("0", "false", "0.0", "False"), ("1", "true", "True", "1.0"))
    rows = [f"{a:.6f},{b:.6f},{spellings[label][i % 4]}\n" for i, ((a, b), label) in enumerate(zip(x, y, strict=True))]
    (tmp_path / "s.csv").write_text("a,b,label\n" + "".join(rows))
    with figures_off():
        fit = run_cli("fit", "--trainer.max_epochs", "2", "--data.path", "s.csv")
    [run] = run_dirs(tmp_path)
    run_cli("predict", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--predictions", "p.csv")
    with (tmp_path / "p.csv").open() as handle:
        test = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    accuracy = sum(row["label"] == row["predicted_label"] for row in test) / len(test)
    assert abs(accuracy - printed(fit.stdout, "test_acc")) < 1e-4
    assert len({row["label"] for row in test}) == 2  # one spelling per class, the one predicted_label writes


def test_a_fast_dev_run_leaves_no_run_directory(tmp_path, run_cli):
    """``--trainer.fast_dev_run true`` is a trial: Lightning logs and checkpoints nothing, so no empty version_N
    stays behind (as for a run that failed before its first checkpoint), with a logger or without one. Its test of
    one batch says so."""
    with figures_off():
        trial = run_cli("fit", "--trainer.fast_dev_run", "true")
        run_cli("fit", "--trainer.fast_dev_run", "true", "--trainer.logger", "false")
    assert list(tmp_path.iterdir()) == []
    assert "scored  2 of the 8 test rows (--trainer.fast_dev_run)" in trial.stdout


def test_an_evaluation_of_part_of_a_split_says_how_many_rows(tmp_path, run_cli):
    """``--trainer.limit_test_batches 0.3`` scores part of the test rows: one line says how many, and a whole
    split says nothing (the tutorial's data: 8 test rows in batches of 2); the test that ends a fit says it too."""
    with figures_off():
        fit = run_cli("fit", "--trainer.max_epochs", "1", "--data.test_fraction", "0.2",
                      "--trainer.limit_test_batches", "0.3")  # fmt: skip
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    part = run_cli("test", "--ckpt_path", ckpt, "--trainer.limit_test_batches", "0.3")
    whole = run_cli("validate", "--ckpt_path", ckpt)
    assert "scored  2 of the 8 test rows (--trainer.limit_test_batches 0.3)" in part.stdout.splitlines()
    assert "scored  2 of the 8 test rows (--trainer.limit_test_batches 0.3)" in fit.stdout.splitlines()
    assert "scored" not in whole.stdout


def test_the_runs_file_flags_repeated_on_predict_and_test_apply_to_its_data(tmp_path, run_cli):
    """``--data.label y`` or ``--data.positive 1`` after a FileDataModule fit change the checkpoint's data as
    ``--data.split_seed`` does (they ended in jsonargparse's "required: path" dump): the same predictions."""
    rows = [(-1.2, 0.3, 0), (0.8, -0.1, 1), (-0.4, -0.9, 0), (1.5, 0.7, 1), (-0.7, 0.2, 0), (0.3, 1.1, 1)] * 5
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{a},{b},{y}\n" for a, b, y in rows))
    with figures_off():
        run_cli("fit", *FAST, "--data", "FileDataModule", "--data.path", "t.csv", "--data.label", "y")
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    plain = run_cli("predict", "--ckpt_path", ckpt).stdout
    assert run_cli("predict", "--ckpt_path", ckpt, "--data.label", "y").stdout == plain
    assert run_cli("predict", "--ckpt_path", ckpt, "--data.positive", "1").stdout == plain
    assert "test_loss" in run_cli("test", "--ckpt_path", ckpt, "--data.label", "y").stdout


def test_fit_parses_once_when_its_arguments_name_the_data_class(tmp_path, monkeypatch):
    """The data class the arguments name (a packaged or own --config, --data, a file's flags alone) is parsed with
    its own defaults at once; a later --data wins, and a class that is no data module (or fails to import) is no
    guess, left to the parse to report."""
    from logreg.cli import lightning

    (tmp_path / "own.yaml").write_text("fit:\n  data:\n    class_path: FileDataModule\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    file, threshold = "logreg.data.files.FileDataModule", "logreg.data.threshold.ThresholdDataModule"
    for args, expected in [
        (["--config", str(lightning.CONFIGS / "tabular.yaml"), "--data.path", "d"], file),
        (["--config", str(tmp_path / "own.yaml")], file),
        (["--data.path", "d.csv"], file),
        (["--config", str(tmp_path / "own.yaml"), "--data=ThresholdDataModule"], threshold),
        (["--data.n_samples", "10"], None),
        (["--data", "torch.nn.Linear"], None),
        (["--data", "broken.Data"], None),
    ]:
        assert lightning.given_data_class(["fit", *args]) == expected, args
    parses, parse = [], lightning.LogRegCLI.parse
    monkeypatch.setattr(lightning.LogRegCLI, "parse", lambda cli, *a, **k: parses.append(1) or parse(cli, *a, **k))
    monkeypatch.setattr(lightning.LogRegCLI, "before_instantiate_classes", lambda cli: sys.exit(0))  # parsed: enough
    with pytest.raises(SystemExit):
        lightning.build_cli(["fit", "--config", "tabular.yaml", "--data.path", str(tmp_path)])
    assert len(parses) == 1  # (was 2: the default data class's, then FileDataModule's)


def test_a_runs_config_from_another_directory_trains_on_the_runs_data(tmp_path, run_cli):
    """``fit --config A/lightning_logs/version_0/config.yaml`` run in B finds the relative data path from the fit's
    directory (A), as test and predict find a checkpoint's data, not B's file of the same name."""
    rng = np.random.default_rng(0)
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        rows = [f"{a:.5f},{int(a + rng.normal() > 0)}" for a in rng.normal(size=60)]  # another file in each
        (tmp_path / name / "d.csv").write_text("\n".join(["a,label", *rows]) + "\n")
    run_cli("fit", *FAST, "--data.path", "d.csv", cwd=tmp_path / "A")
    first = run_dirs(tmp_path / "A")[0]
    run_cli("fit", "--config", f"../A/lightning_logs/{first.name}/config.yaml", cwd=tmp_path / "B")
    again = run_dirs(tmp_path / "B")[0]
    a, b = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"] for run in (first, again))
    assert torch.equal(a["linear.weight"], b["linear.weight"]) and torch.equal(a["feature_mean"], b["feature_mean"])
    assert yaml.safe_load((again / "config.yaml").read_text())["data"]["init_args"]["path"] == str(tmp_path / "A/d.csv")
    for data in (["--data", "ThresholdDataModule"], ["--data.class_path", "logreg.ThresholdDataModule"]):  # no path
        run_cli("fit", "--config", f"../A/lightning_logs/{first.name}/config.yaml", *data, cwd=tmp_path / "B")
        saved = yaml.safe_load((run_dirs(tmp_path / "B")[-1] / "config.yaml").read_text())["data"]
        assert saved["class_path"].endswith(".ThresholdDataModule") and "path" not in saved["init_args"]


def test_a_run_under_a_linked_lightning_logs_finds_its_data_or_refuses(tmp_path, run_cli):
    """With ``lightning_logs`` a link to another folder, the run's data is found from the directory the fit ran in,
    through the path as given (resolved, it ends in the link's target, not in the run's ``lightning_logs``): before,
    a config.yaml or checkpoint named from elsewhere took the same-named file of the current directory, silently.
    Reached through the target's name, the checkpoint is not under the directory it was saved in, so where the fit
    ran cannot be told: refused in one line, asking for --data.path (the current directory's file of the same name
    may be another, as here). A checkpoint that records no relative directory keeps the current directory, as before:
    nothing tells of another."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    (tmp_path / "exp").mkdir()
    (tmp_path / "logs").mkdir()
    for path, (a, b) in ((tmp_path / "exp/d.csv", x.T), (tmp_path / "d.csv", x.T[::-1])):  # another file, same name
        path.write_text("a,b,label\n" + "".join(f"{u:.6f},{v:.6f},{t}\n" for u, v, t in zip(a, b, y, strict=True)))
    (tmp_path / "exp/lightning_logs").symlink_to("../logs")
    run_cli("fit", *FAST, "--data.path", "d.csv", cwd=tmp_path / "exp")
    run = "exp/lightning_logs/version_0"
    fitted = run_cli("test", "--ckpt_path", "lightning_logs/version_0/checkpoints/last.ckpt", cwd=tmp_path / "exp")
    assert run_cli("test", "--ckpt_path", f"{run}/checkpoints/last.ckpt").stdout == fitted.stdout
    assert "changed since the fit" not in run_cli("predict", "--ckpt_path", f"{run}/checkpoints/last.ckpt").stdout
    run_cli("fit", "--config", f"{run}/config.yaml")  # from tmp_path: exp/d.csv, not tmp_path's d.csv
    again = run_dirs(tmp_path)[-1] / "checkpoints/last.ckpt"  # (after test's and predict's version_N)
    a, b = (torch.load(ckpt, weights_only=True)["state_dict"] for ckpt in (tmp_path / run / "checkpoints/last.ckpt",
                                                                               again))  # fmt: skip
    assert torch.equal(a["linear.weight"], b["linear.weight"]) and torch.equal(a["feature_mean"], b["feature_mean"])
    for args in (["test", "--ckpt_path", "logs/version_0/checkpoints/last.ckpt"], ["fit", "--config",
                 "logs/version_0/config.yaml"]):  # fmt: skip
        proc = run_cli(*args, check=False)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "is not under lightning_logs/version_0/checkpoints, where its run saved it" in proc.stderr
        assert proc.stderr.rstrip().endswith("give the data: --data.path FILE")
    given = run_cli("test", "--ckpt_path", "logs/version_0/checkpoints/last.ckpt", "--data.path", "exp/d.csv")
    assert given.stdout == fitted.stdout


def test_a_run_under_an_absolute_log_directory_finds_its_data_from_where_it_ran(tmp_path, run_cli):
    """``--trainer.default_root_dir /abs/runs`` (or ``../runs``) saves an absolute checkpoint directory, which tells
    nothing of where the fit ran: its relative data path was then looked up from the current directory, so a
    config.yaml or checkpoint named from elsewhere took that directory's same-named file, silently. The checkpoint
    records the directory the command ran in; a run whose recorded directory is gone is refused in one line."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    for name, (a, b) in (("proj", x.T), ("other", x.T[::-1])):  # another file of the same name
        (tmp_path / name).mkdir()
        (tmp_path / name / "d.csv").write_text(
            "a,b,label\n" + "".join(f"{u:.6f},{v:.6f},{t}\n" for u, v, t in zip(a, b, y, strict=True))
        )
    runs = tmp_path / "runs"
    run_cli("fit", *FAST, "--data.path", "d.csv", "--trainer.default_root_dir", str(runs), cwd=tmp_path / "proj")
    ckpt = str(runs / "lightning_logs/version_0/checkpoints/last.ckpt")
    fitted = run_cli("test", "--ckpt_path", ckpt, cwd=tmp_path / "proj")
    assert run_cli("test", "--ckpt_path", ckpt, cwd=tmp_path / "other").stdout == fitted.stdout
    run_cli("fit", "--config", str(runs / "lightning_logs/version_0/config.yaml"), cwd=tmp_path / "other")
    again = run_dirs(runs)[-1] / "checkpoints/last.ckpt"  # (config.yaml keeps the default_root_dir)
    a, b = (torch.load(path, weights_only=True)["state_dict"] for path in (ckpt, again))
    assert torch.equal(a["linear.weight"], b["linear.weight"]) and torch.equal(a["feature_mean"], b["feature_mean"])
    (tmp_path / "proj").rename(tmp_path / "moved")
    proc = run_cli("test", "--ckpt_path", ckpt, cwd=tmp_path / "other", check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert f"was fitted in {tmp_path / 'proj'}, which is gone" in proc.stderr
