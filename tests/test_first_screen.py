"""What a new user sees first: ``logreg`` alone, ``logreg --version``, the end of ``logreg fit --help``, and the
preview that ``logreg predict`` prints without ``--predictions``."""

import csv
import gc
import re
import subprocess
import sys
from collections import Counter

import lightning
import torch
import torchmetrics
import yaml

from conftest import run_dirs

SUBCOMMANDS = ["fit", "validate", "test", "predict", "convert", "export"]


def test_no_arguments_lists_the_subcommands_one_line_each(run_cli):
    shown = run_cli(check=False)
    assert shown.returncode == 2  # nothing ran: a script calling `logreg $EMPTY` fails
    assert "error" not in shown.stdout + shown.stderr
    listed = [line.split()[0] for line in shown.stdout.splitlines() if line.startswith("  ")]
    assert listed == SUBCOMMANDS


def test_version_names_logreg_and_the_libraries_one_line_each(run_cli):
    from importlib.metadata import version

    logreg, torch_line, *rest = run_cli("--version").stdout.splitlines()
    assert logreg == f"logreg {version('logreg')}"
    assert rest == [f"lightning {lightning.__version__}", f"torchmetrics {torchmetrics.__version__}"]
    # the installed release; torch.__version__ may add the build (PyPI's 2.14.1 wheel says 2.14.1+cu130)
    assert torch_line.startswith("torch ") and torch.__version__.startswith(torch_line.removeprefix("torch "))


def test_version_does_not_import_lightning_or_torch():
    code = (
        "import sys; from logreg.cli import main; main(['--version']); print({'torch', 'lightning'} & {*sys.modules})"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines()[-1] == "set()"


def test_fit_help_ends_with_the_common_flags_and_they_exist(run_cli):
    help_text = run_cli("fit", "--help").stdout
    body, common = help_text.split("\ncommon flags", 1)
    named = re.findall(r"^  (--[\w.]+)", common, re.M)
    assert named[:3] == ["--config", "--data", "--data.path"] and "--trainer.accelerator" in named
    file_data = run_cli("fit", "--data.help", "FileDataModule").stdout  # the data module's own flags
    for flag in named[1:]:  # each is a real flag of fit (--config is the config file's)
        where = file_data if flag.startswith("--data.") else body
        assert re.search(rf"^\s+{re.escape(flag)}\b", where, re.M), flag
    assert len(common.splitlines()) < 20


def test_predict_without_a_file_shows_a_preview(run_cli, tmp_path):
    rows = [f"{i},{(i * 7) % 5},{'yes' if i > 11 else 'no'}" for i in range(24)]
    (tmp_path / "small.csv").write_text("a,b,answer\n" + "\n".join(rows) + "\n")
    data = ("--data", "FileDataModule", "--data.path", "small.csv", "--data.label", "answer")
    run_cli("fit", *data, "--trainer.max_epochs", "3", "--data.batch_size", "4")
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    lines = run_cli("predict", "--ckpt_path", ckpt, *data, "--threshold", "0.4").stdout.splitlines()
    run_cli("predict", "--ckpt_path", ckpt, *data, "--threshold", "0.4", "--predictions", "out.csv")
    with open(tmp_path / "out.csv", newline="") as handle:
        written = list(csv.reader(handle))
    assert [line.split() for line in lines[:11]] == written[:11]  # header and the first 10 rows, as in the file
    assert lines[11] == "... (10 of 24 rows shown)"
    counts = Counter(row[1] for row in written[1:])
    assert lines[12] == f"predicted   'no': {counts['no']}, 'yes': {counts['yes']} (threshold 0.4)"
    correct = sum(row[1] == row[2] for row in written[1:])
    assert lines[13] == f"accuracy    {correct / 24:.4f} ({correct} of 24 rows)"
    assert lines[14:] == ["pass --predictions FILE.csv to save the predictions"]


def test_a_command_builds_only_its_subcommands_parser_and_says_the_same(run_cli, monkeypatch):
    """``logreg fit ...`` builds only fit's parser (each costs about 0.1 s); what it prints and refuses is what the
    parser of every subcommand, as ``logreg --config FILE fit`` gets it, prints and refuses."""
    import logreg.cli.lightning as lightning_cli

    # --help lists every live subclass of torch's Optimizer, and an in-process fit before this test (another test's)
    # leaves Lightning's per-run wrapper classes (LightningSGD) to the cyclic garbage collector: collected between
    # the two helps, they would make them differ. Nothing here trains, so none are made after this.
    gc.collect()
    monkeypatch.delenv("JSONARGPARSE_DEFAULT_ENV", raising=False)  # with it on, every parser is built (next test)
    built = []
    original = lightning_cli.subcommands_to_build
    monkeypatch.setattr(lightning_cli, "subcommands_to_build", lambda args: built.append(original(args)) or built[-1])
    flags = ("--model.lr", "0.5", "--trainer.max_epochs", "3")
    fit_only = [run_cli("fit", *flags, "--print_config").stdout, run_cli("test", "--help").stdout]
    refused = run_cli("fit", "--model.lr", "fast", check=False)
    assert {tuple(subcommands) for subcommands in built} == {("fit",), ("test",)}
    built.clear()
    first = ["--config", "f.yaml"]  # as if a --config came first
    monkeypatch.setattr(lightning_cli, "subcommands_to_build", lambda args: built.append(original(first)) or built[-1])
    every = [run_cli("fit", *flags, "--print_config").stdout, run_cli("test", "--help").stdout]
    refused_by_every = run_cli("fit", "--model.lr", "fast", check=False)
    assert {tuple(subcommands) for subcommands in built} == {("fit", "validate", "test", "predict")}
    assert fit_only == every and "lr: 0.5" in every[0] and "--ckpt_path" in every[1]
    assert (refused.returncode, refused.stderr) == (refused_by_every.returncode, refused_by_every.stderr) != (0, "")


def test_a_config_in_the_environment_may_hold_every_subcommands_section(run_cli, monkeypatch):
    """With jsonargparse's parsing of the environment on (``JSONARGPARSE_DEFAULT_ENV=true``), ``PL_CONFIG`` holds a
    config of the whole command, a section per subcommand, as ``logreg --config FILE fit`` reads it: ``logreg fit``
    takes its own section and leaves the others, as it did when every subcommand's parser was built."""
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    monkeypatch.setenv("PL_CONFIG", "fit:\n  model:\n    lr: 0.5\ntest:\n  model:\n    lr: 0.25\n")
    fit, test = run_cli("fit", "--print_config", check=False), run_cli("test", "--print_config", check=False)
    assert (fit.returncode, fit.stderr, test.returncode, test.stderr) == (0, "", 0, "")
    assert (yaml.safe_load(fit.stdout)["model"]["lr"], yaml.safe_load(test.stdout)["model"]["lr"]) == (0.5, 0.25)
