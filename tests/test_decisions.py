"""Decisions: the threshold (given, or tuned on validation and stored in checkpoints) and how good the decisions are,
against scikit-learn's precision, recall and average precision."""

import csv
import signal

import numpy as np
import pytest
import torch

from conftest import call_main, figures_off, run_dirs

N = 2000


def write_imbalanced(path, n=N, seed=0, intercept=-2.2):
    """Noisy data from a logistic model, about 17% positive."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(intercept + x @ [1.2, -0.8, 0.5])))).astype(int)
    rows = [",".join(f"{v:.6f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)]
    path.write_text("\n".join(["a,b,c,label", *rows]) + "\n")
    return x, y


FIT = ("fit", "--data", "FileDataModule", "--data.path", "d.csv", "--data.batch_size", "64", "--optimizer", "Adam",
       "--optimizer.lr", "0.05", "--trainer.max_epochs", "3")  # fmt: skip


def threshold_of(ckpt):
    return torch.load(ckpt, weights_only=True)["state_dict"]["threshold"]


def predictions(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """``FIT --model.tune_threshold f1`` on the imbalanced data, once for the module: ``(root, y, fit)``, with
    ``root/d.csv``, the run's ``last.ckpt`` and ``root/p.csv``, its predictions of every row of ``d.csv``."""
    root = tmp_path_factory.mktemp("tuned")
    _, y = write_imbalanced(root / "d.csv")
    with figures_off():  # (a module fixture runs before the per-test fixture that turns them off)
        fit = call_main(*FIT, "--model.tune_threshold", "f1", cwd=root)
        call_main("predict", "--ckpt_path", str(last_of(root)), "--data", "FileDataModule", "--data.path", "d.csv",
                  "--predictions", "p.csv", cwd=root)  # fmt: skip
    return root, y, fit


def last_of(root):
    return run_dirs(root)[0] / "checkpoints" / "last.ckpt"


def test_a_threshold_tuned_for_f1_is_stored_and_does_at_least_as_well_as_0_5(tuned, run_cli, tmp_path):
    from sklearn.metrics import f1_score

    from logreg import FileDataModule

    root, y, fit = tuned
    assert 0.12 < y.mean() < 0.22
    stored = float(threshold_of(last_of(root)))
    assert stored != 0.5 and f"threshold        {stored:.4g} (tuned for f1 on validation)" in fit.stdout
    rows = predictions(root / "p.csv")
    probs = np.array([float(r["probability"]) for r in rows])
    assert [int(r["predicted_label"]) for r in rows] == (probs > stored).astype(int).tolist()
    data = FileDataModule(root / "d.csv")
    data.setup("fit")
    test = data.test_idx.numpy()
    assert f1_score(y[test], probs[test] > stored) >= f1_score(y[test], probs[test] > 0.5)

    run_cli("predict", "--ckpt_path", str(last_of(root)), "--data", "FileDataModule", "--data.path",
            str(root / "d.csv"), "--predictions", "q.csv", "--threshold", "0.9")  # fmt: skip
    assert [int(r["predicted_label"]) for r in predictions(tmp_path / "q.csv")] == (probs > 0.9).astype(int).tolist()


def test_metrics_equal_scikit_learns_and_ap_stays_within_its_bound(tuned, run_cli):
    """precision and recall at the model's threshold (the tuned one: any stored threshold, not 0.5) equal
    scikit-learn's within 1e-6. AP is computed on 1001 fixed thresholds (flat memory, the same on every DDP rank):
    within 0.005 of scikit-learn's exact AP here."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    from logreg import FileDataModule

    root, y, _ = tuned
    stored = float(threshold_of(last_of(root)))
    test = run_cli("test", "--ckpt_path", str(last_of(root)), "--data", "FileDataModule", "--data.path",
                   str(root / "d.csv"))  # fmt: skip
    ours = {line.split()[0]: float(line.split()[1]) for line in test.stdout.splitlines() if line.startswith("test_")}
    probs = np.array([float(r["probability"]) for r in predictions(root / "p.csv")])
    data = FileDataModule(root / "d.csv")
    data.setup("fit")
    rows = data.test_idx.numpy()
    assert abs(ours["test_precision"] - precision_score(y[rows], probs[rows] > stored)) < 1e-4  # (printed to 4 places)
    assert abs(ours["test_recall"] - recall_score(y[rows], probs[rows] > stored)) < 1e-4
    assert abs(ours["test_ap"] - average_precision_score(y[rows], probs[rows])) < 0.005


def test_metric_values_equal_scikit_learn_to_1e_6(tmp_path):
    """The logged values themselves (not the 4-place printout), on the model's own decisions."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score

    from logreg.model.logistic import CURVE_THRESHOLDS
    from logreg.model.metrics import EvaluationTotals

    rng = np.random.default_rng(3)
    probs = torch.tensor(rng.random(5000), dtype=torch.float32)
    target = torch.tensor((rng.random(5000) < probs.numpy() ** 2).astype(int))
    totals = EvaluationTotals("test", CURVE_THRESHOLDS)
    totals.update(probs, target, torch.tensor(0.0), 0.3)
    values = totals.compute()
    y, p = target.numpy(), probs.numpy()
    assert abs(float(values["test_precision"]) - precision_score(y, p > 0.3)) < 1e-6
    assert abs(float(values["test_recall"]) - recall_score(y, p > 0.3)) < 1e-6
    assert abs(float(values["test_ap"]) - average_precision_score(y, p)) < 0.005


def test_calibration_error_is_small_for_a_fitted_model_and_large_for_an_overconfident_one(tmp_path, run_cli):
    write_imbalanced(tmp_path / "d.csv", n=6000, intercept=0.0)
    args = ("--data", "FileDataModule", "--data.path", "d.csv", "--data.test_fraction", "0.5")
    run_cli("fit", "--config", "lbfgs.yaml", *args)
    last = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"

    def ece(ckpt):
        out = run_cli("test", "--ckpt_path", str(ckpt), *args).stdout
        return float(out.split("test_ece")[1].split()[0])

    assert ece(last) < 0.03
    checkpoint = torch.load(last, weights_only=True)
    checkpoint["state_dict"]["linear.weight"] *= 5
    torch.save(checkpoint, tmp_path / "overconfident.ckpt")
    assert ece(tmp_path / "overconfident.ckpt") > 0.1


def test_a_resumed_run_keeps_the_tuned_threshold_bitwise(tmp_path, run_cli, signal_at, monkeypatch):
    write_imbalanced(tmp_path / "d.csv", n=1000)
    args = (*FIT, "--model.tune_threshold", "youden", "--data.batch_size", "100")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    straight.mkdir(), stopped.mkdir()
    for root in (straight, stopped):
        (root / "d.csv").write_bytes((tmp_path / "d.csv").read_bytes())
    run_cli(*args, cwd=straight)
    signal_at(signal.SIGTERM, "training", 15)  # mid epoch 1 of 7 steps each
    proc = run_cli(*args, cwd=stopped, check=False)
    monkeypatch.undo()
    assert proc.returncode == 143, proc.stderr
    run_cli(*proc.stderr.split("resume with: logreg ")[1].split(), cwd=stopped)
    a, b = (run_dirs(root)[0] / "checkpoints" / "last.ckpt" for root in (straight, stopped))
    assert torch.equal(threshold_of(a), threshold_of(b)) and float(threshold_of(a)) != 0.5


@pytest.mark.parametrize("criterion", ["balanced_accuracy", "youden"])
def test_balanced_accuracy_and_youden_pick_the_threshold_that_maximises_them(criterion):
    from sklearn.metrics import balanced_accuracy_score
    from torchmetrics.classification import BinaryROC

    from logreg.model.logistic import CURVE_THRESHOLDS, tuned_threshold

    rng = np.random.default_rng(5)
    probs = torch.tensor(rng.random(3000), dtype=torch.float32)
    target = torch.tensor((rng.random(3000) < probs.numpy() ** 3).astype(int))
    curve = BinaryROC(thresholds=CURVE_THRESHOLDS)
    curve.update(probs, target)
    chosen = float(tuned_threshold(curve.compute(), criterion))
    y, p = target.numpy(), probs.numpy()
    grid = np.linspace(0, 1, CURVE_THRESHOLDS)[1:-1].astype(np.float32)
    decided = p[:, None] >= grid[None, :]  # torchmetrics' curves count p >= t
    balanced = ((decided & (y[:, None] == 1)).sum(0) / (y == 1).sum() + (~decided & (y[:, None] == 0)).sum(0) /
                (y == 0).sum()) / 2  # fmt: skip
    assert balanced_accuracy_score(y, p >= chosen) == pytest.approx(balanced.max(), abs=1e-9)


def test_one_feature_reports_and_figures_use_the_threshold_the_split_and_the_label_names(tmp_path, run_cli):
    """With ``--model.threshold 0.8`` the decision boundary (summary and figure) is where p = 0.8; the fitted
    sigmoid is drawn over the training rows at the end of fit and over the test rows after the test; the probability
    histogram and the reliability diagram name the classes as the data does. A user's separable data still warns."""
    from logreg import FileDataModule

    x = np.linspace(-2, 2, 60)
    rows = [f"{v:.6f},{'yes' if v > 0.3 else 'no'}" for v in x]
    (tmp_path / "one.csv").write_text("\n".join(["x,label", *rows]) + "\n")
    figures = {}
    with pytest.MonkeyPatch.context() as mp:  # the figures' arguments, recorded instead of drawn
        mp.setattr("logreg.report.figures.log_figure", lambda trainer, tag, draw, *args: figures.__setitem__(tag, args))
        fit = run_cli("fit", "--data", "FileDataModule", "--data.path", "one.csv", "--model.threshold", "0.8",
                      "--trainer.max_epochs", "2", "--data.batch_size", "8")  # fmt: skip
    state = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    weight = state["linear.weight"].item() / state["feature_scale"].item()
    bias = state["linear.bias"].item() - weight * state["feature_mean"].item()
    boundary = (np.log(0.8 / 0.2) - bias) / weight  # sigmoid(weight x + bias) = 0.8
    assert f"decision boundary  {boundary:.4f} (the x where p = the threshold 0.8)" in fit.stdout

    data = FileDataModule(tmp_path / "one.csv")  # the run's seeded split
    data.setup("fit")
    for tag, split in (("figures/fitted_sigmoid", data.train_idx), ("figures/test_fitted_sigmoid", data.test_idx)):
        drawn, _, _, _, threshold, names, _ = figures[tag]
        assert np.array_equal(np.sort(drawn), np.sort(data.features[split, 0].numpy())), tag
        assert (threshold, list(names)) == (pytest.approx(0.8), ["no", "yes"])
    for tag in ("figures/val_probabilities", "figures/test_probabilities", "figures/test_reliability"):
        assert list(figures[tag][-1]) == ["no", "yes"], tag
    assert "logreg: warning: no minimum" in fit.stderr and "classes are separable" in fit.stderr


def test_the_test_figures_are_of_every_scored_row_and_the_validation_figures_of_a_sample(tmp_path, run_cli):
    """The test figures come from the test pass's own sums: every test row, as the logged test metrics (scikit-learn's
    confusion counts, AUROC and average precision on the last checkpoint's probabilities; NumPy's histogram); the
    validation figures at fit's end score at most ``MAX_ROWS_SCORED`` evenly spaced rows."""
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    from logreg import FileDataModule

    write_imbalanced(tmp_path / "d.csv")
    figures = {}
    with pytest.MonkeyPatch.context() as mp:  # the figures' arguments, recorded instead of drawn
        mp.setattr("logreg.report.figures.log_figure", lambda trainer, tag, draw, *args: figures.__setitem__(tag, args))
        mp.setattr("logreg.report.figures.MAX_ROWS_SCORED", 50)
        fit = run_cli(*FIT)
    data = FileDataModule(tmp_path / "d.csv", batch_size=64)  # the run's seeded split
    data.setup("fit")
    state = torch.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    scaled = (data.features.double() - state["feature_mean"].double()) / state["feature_scale"].double()
    probs = torch.sigmoid(scaled @ state["linear.weight"].double().view(-1) + state["linear.bias"].double()).numpy()
    y, test = data.labels.view(-1).numpy(), data.test_idx.numpy()
    assert len(test) > 50 and figures["figures/val_confusion"][0].sum() == 50
    assert (figures["figures/test_confusion"][0] == confusion_matrix(y[test], probs[test] > 0.5)).all()
    for cls in (0, 1):
        expected = np.histogram(probs[test][y[test] == cls], np.linspace(0, 1, 26))[0]
        assert (figures["figures/test_probabilities"][0][cls] == expected).all()
    [shown] = [float(line.split()[1]) for line in fit.stdout.splitlines() if line.startswith("test_auroc ")]
    auroc, ap = figures["figures/test_roc"][2], figures["figures/test_precision_recall"][2]
    assert auroc == pytest.approx(shown, abs=5e-5)  # the logged metric, to its 4 digits
    assert auroc == pytest.approx(roc_auc_score(y[test], probs[test]), abs=2e-3)  # (binned at 1,001 thresholds)
    assert ap == pytest.approx(average_precision_score(y[test], probs[test]), abs=5e-3)
    assert figures["figures/test_reliability"][2].sum() == len(test)
