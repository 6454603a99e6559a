"""The recipe for a user's own table (``--config tabular.yaml``) on a real public table, against scikit-learn's
default pipeline on the same split; ``--model.C``; FileDataModule's own defaults on the command line."""

import re

import pytest
import torch
import yaml

from conftest import run_dirs
from logreg import FileDataModule


@pytest.fixture
def cancer_csv(tmp_path):
    """scikit-learn's copy of the Wisconsin breast cancer table (569 rows, 30 features on scales from 0.001 to
    2,500; shipped in the package, no download), with its labels as text as a real file would have them."""
    from sklearn.datasets import load_breast_cancer

    table = load_breast_cancer(as_frame=True).frame
    table["diagnosis"] = ["malignant" if y == 0 else "benign" for y in table.pop("target")]
    table.to_csv(tmp_path / "cancer.csv", index=False)
    return tmp_path / "cancer.csv"


def number(stdout: str, row: str) -> float:
    return float(re.search(rf"^{row}\s+([\d.]+)$", stdout, re.M).group(1))


def test_the_tabular_recipe_scores_like_scikit_learn_on_a_real_table(cancer_csv, run_cli, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fit = run_cli("fit", "--config", "tabular", "--data.path", str(cancer_csv), "--data.label", "diagnosis")
    data = FileDataModule(cancer_csv, label="diagnosis")  # the same seeded split the run made
    data.setup("fit")
    x, y = data.features.numpy(), data.labels.view(-1).numpy()
    train, test = data.train_idx.numpy(), data.test_idx.numpy()
    reference = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[train], y[train])
    assert abs(number(fit.stdout, "test_acc") - reference.score(x[test], y[test])) <= 0.01
    assert "converged at epoch" in fit.stdout
    # sklearn's default C=1 on this many training rows, resolved when fit started, shown and kept in the checkpoint
    assert f"penalty          l2 = {1 / len(train):.4g} (C = 1 on {len(train)} training rows)" in fit.stdout
    hparams = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    assert hparams["C"] is None and hparams["l2"] == pytest.approx(1 / len(train))


def batch_size(stdout: str) -> int:
    return int(re.search(r"^    batch_size: (\d+)$", stdout, re.M).group(1))


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ((), 32),  # FileDataModule's own default, not ThresholdDataModule's 2 (jsonargparse issue #460)
        (("--data.batch_size", "2"), 2),  # given explicitly, even when equal to the other class's default
        (("--config", "batch5.yaml"), 5),  # given in a config file
    ],
)
def test_file_data_gets_its_own_defaults_unless_given(cancer_csv, run_cli, tmp_path, flags, expected):
    (tmp_path / "batch5.yaml").write_text("data:\n  init_args:\n    batch_size: 5\n")
    data = ("--data", "FileDataModule", "--data.path", str(cancer_csv))
    shown = run_cli("fit", *data, *flags, "--print_config")
    assert batch_size(shown.stdout) == expected


def test_the_tutorial_keeps_its_batch_size(run_cli):
    assert batch_size(run_cli("fit", "--print_config").stdout) == 2


@pytest.mark.parametrize(
    ("flags", "penalty"),
    [
        (("--config", "tabular", "--model.l2", "0.01"), (0.01, None)),  # a flag's l2 replaces the recipe's C
        (("--config", "tabular", "--model.l2", "0"), (0.0, None)),  # no penalty, not C=1 kept under an l2 of 0
        (("--config", "l2.yaml", "--model.C=2"), (0.0, 2.0)),  # a flag's C replaces a config's l2
        (("--config", "tabular", "--model.C", "inf"), (0.0, "inf")),  # no penalty, in scikit-learn's words
        (("--config", "tabular", "--model.C", "none"), (0.0, "none")),
    ],
)
def test_a_penalty_flag_replaces_the_other_spelling_in_a_config(cancer_csv, run_cli, tmp_path, flags, penalty):
    """``--model.l2`` and ``--model.C`` are one penalty: a later flag wins over a config's value, as everywhere in
    LightningCLI (``--print_config`` shows the resolved config)."""
    (tmp_path / "l2.yaml").write_text("model:\n  l2: 0.5\ndata:\n  class_path: logreg.FileDataModule\n")
    shown = run_cli("fit", *flags, "--data.path", str(cancer_csv), "--print_config")
    model = yaml.safe_load(shown.stdout)["model"]
    assert (model["l2"], model["C"]) == penalty


@pytest.mark.parametrize(
    "flags",
    [("--model.C", "INF"), ("--model.C", "Inf"), ("--model.C= none",), ("--model.C", "NONE"), ("--config", "C.yaml")],
)
def test_C_takes_its_words_in_any_case_and_print_config_prints_a_config_that_runs(run_cli, tmp_path, flags):
    """``--model.C`` (flag or config) takes 'inf' and 'none' as the model does, in any case and spacing (jsonargparse's
    ``Literal["inf", "none"]`` took only the lower case), and fit runs the config that ``--print_config`` prints."""
    (tmp_path / "C.yaml").write_text("model:\n  C: INF\n")
    (tmp_path / "printed.yaml").write_text(run_cli("fit", *flags, "--print_config").stdout)
    fit = run_cli("fit", "--config", "printed.yaml", "--trainer.max_epochs", "1")
    assert re.search(r"penalty +none \(C = inf\)", fit.stdout), fit.stdout
