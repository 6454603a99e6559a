"""The estimator against independent references: scikit-learn's LogisticRegression (penalties, class weights) and
statsmodels' Logit (standard errors), on one non-separable dataset with named features on very different scales,
fitted by the packaged full-batch L-BFGS config on all rows, unstandardised."""

import csv
import math

import numpy as np
import pytest
import torch

from conftest import call_main, run_dirs

N = 600
NAMES = ["tiny", "unit", "huge", "mid"]
LBFGS = ("fit", "--config", "lbfgs.yaml", "--data", "FileDataModule", "--data.path", "named.csv",
         "--data.val_fraction", "0", "--data.test_fraction", "0")  # fmt: skip
NEWTON = ("--optimizer", "logreg.model.newton.Newton", "--model.init_weight", "0", "--model.init_bias", "0")
# Raw features: the penalty acts on the raw weights, as in a plain LogisticRegression.
RAW = (
    "--data.standardize",
    "false",
)


def make_data(seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features of standard deviations 0.2, 1, 10 and 3 (``spread`` 20 stretches them to 0.01, 1, 200 and 3),
    labels drawn from a logistic model with an intercept, about 40% positive: not separable."""
    rng = np.random.default_rng(seed)
    stds = np.array([0.2, 1.0, 10.0, 3.0]) * np.array([1 / spread, 1, spread, 1])
    x = rng.normal([0.0, 3.0, 50.0, 0.0], stds, size=(N, 4))
    logit = -0.6 + (x - [0.0, 3.0, 50.0, 0.0]) @ (np.array([0.8, -0.8, 0.5, 0.6]) / stds)
    return x, (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)


def write_csv(path, x, y):
    with path.open("w") as handle:
        handle.write(",".join([*NAMES, "label"]) + "\n")
        handle.writelines(",".join(f"{v:.17g}" for v in row) + f",{label}\n" for row, label in zip(x, y, strict=True))


@pytest.fixture
def named_csv(tmp_path):
    x, y = make_data()
    write_csv(tmp_path / "named.csv", x, y)
    return x, y


@pytest.fixture(scope="module")
def spread_fit(tmp_path_factory):
    """``spread_fit(*flags)``: ``(root, fit)`` of ``fit LBFGS FLAGS`` on features of scales 0.01 to 200
    (standardised, as FileDataModule does by default), in a directory of its own; each set of flags is fitted once
    in this module (the scaler-pipeline, statsmodels and ``test`` checks share the plain fit)."""
    x, y = make_data(spread=20)
    fits = {}

    def fit(*flags: str):
        if flags not in fits:
            root = tmp_path_factory.mktemp("spread")
            write_csv(root / "named.csv", x, y)
            fits[flags] = root, call_main(*LBFGS, *flags, cwd=root)
        return fits[flags]

    return fit


def fitted(root):
    """Raw-unit weights and intercept of the run's final model."""
    state = torch.load(run_dirs(root)[-1] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    weight = (state["linear.weight"].view(-1) / state["feature_scale"]).double().numpy()
    return weight, state["linear.bias"].item() - float((weight * state["feature_mean"].double().numpy()).sum())


def assert_close(ours, reference, rel):
    ours, reference = np.atleast_1d(ours), np.atleast_1d(reference)
    assert np.all(np.abs(ours - reference) <= rel * np.abs(reference)), (ours, reference)


@pytest.mark.parametrize(
    ("flags", "sklearn_kwargs"),
    [
        ((), {"C": math.inf}),
        (("--model.l2", str(1 / (0.05 * N))), {"C": 0.05}),
        (("--model.l2", str(1 / (1.0 * N))), {"C": 1.0}),
        (("--model.pos_weight", "balanced"), {"C": math.inf, "class_weight": "balanced"}),
        (("--model.C", "0.05"), {"C": 0.05}),  # C resolved to l2 when fit starts
        (("--model.C", "0.5", "--model.pos_weight", "balanced"), {"C": 0.5, "class_weight": "balanced"}),
        (("--config", "tabular", *RAW, "--model.C", "inf"), {"C": math.inf}),  # Newton; replaces the recipe's C=1
        (NEWTON, {"C": math.inf}),
        ((*NEWTON, "--model.C", "1"), {"C": 1.0}),
        ((*NEWTON, "--model.pos_weight", "balanced"), {"C": math.inf, "class_weight": "balanced"}),
    ],
    ids=[
        "no penalty",
        "C=0.05",
        "C=1",
        "balanced",
        "--model.C 0.05",
        "--model.C 0.5 balanced",
        "tabular, C inf",
        "Newton, no penalty",
        "Newton, C=1",
        "Newton, balanced",
    ],
)
def test_lbfgs_on_raw_features_equals_scikit_learn(named_csv, run_cli, tmp_path, flags, sklearn_kwargs):
    from sklearn.linear_model import LogisticRegression

    x, y = named_csv
    fit = run_cli(*LBFGS, *RAW, *flags)
    assert "convergence      converged at epoch" in fit.stdout
    reference = LogisticRegression(tol=1e-10, max_iter=100_000, **sklearn_kwargs).fit(x, y)
    weight, bias = fitted(tmp_path)
    assert_close(weight, reference.coef_[0], 1e-4)
    assert_close(bias, reference.intercept_[0], 1e-4)
    ours, theirs = (sklearn_objective(w, b, x, y, **sklearn_kwargs)
                    for w, b in ((weight, bias), (reference.coef_[0], reference.intercept_[0])))  # fmt: skip
    assert abs(ours - theirs) <= 1e-6 * theirs, (ours, theirs)


def sklearn_objective(weight, bias, x, y, C, class_weight=None):
    """scikit-learn's objective ``C * sum_i s_i loss_i + ||w||^2 / 2`` divided by C (finite at C=inf)."""
    z = x @ weight + bias
    losses = np.logaddexp(0, z) - y * z
    if class_weight == "balanced":
        losses = losses * np.where(y == 1, len(y) / (2 * y.sum()), len(y) / (2 * (len(y) - y.sum())))
    return losses.sum() + (0.0 if math.isinf(C) else weight @ weight / (2 * C))


@pytest.mark.parametrize("C", [math.inf, 0.05])
def test_lbfgs_standardised_equals_a_scaler_pipeline(spread_fit, C):
    """Standardised (the default), float32: the penalty acts on the standardised weights, as in
    ``make_pipeline(StandardScaler(), LogisticRegression(C))``; without a penalty that is plain LogisticRegression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_data(spread=20)
    root, _ = spread_fit(*(("--model.l2", str(1 / (C * N))) if math.inf > C else ()))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-10, max_iter=100_000)).fit(x, y)
    scaler, reference = pipeline[0], pipeline[1]
    weight, bias = fitted(root)
    assert_close(weight, reference.coef_[0] / scaler.scale_, 1e-4)
    assert_close(bias, reference.intercept_[0] - float((reference.coef_[0] / scaler.scale_) @ scaler.mean_), 1e-4)


@pytest.mark.parametrize("optimizer", [(), NEWTON], ids=["L-BFGS", "Newton"])
def test_the_coefficient_table_equals_statsmodels(spread_fit, optimizer):
    """Newton's table takes its information from the solver's last pass (no pass of its own), L-BFGS's from one."""
    from statsmodels.discrete.discrete_model import Logit

    x, y = make_data(spread=20)
    root, fit = spread_fit(*optimizer)
    reference = Logit(y, np.column_stack([np.ones(N), x])).fit(disp=0, method="newton", tol=1e-12)
    with (run_dirs(root)[0] / "coefficients.csv").open() as handle:
        rows = {row["feature"]: row for row in csv.DictReader(handle)}
    by_std_weight = sorted(
        NAMES, key=lambda name: -abs(reference.params[1 + NAMES.index(name)] * x[:, NAMES.index(name)].std())
    )
    assert list(rows) == ["(intercept)", *by_std_weight]
    low, high = reference.conf_int().T
    for i, name in enumerate(["(intercept)", *NAMES]):
        ours = rows[name]
        for column, expected in (("weight", reference.params), ("std_error", reference.bse), ("z", reference.tvalues),
                                 ("p_value", reference.pvalues), ("ci_low", low), ("ci_high", high)):  # fmt: skip
            assert_close(float(ours[column]), expected[i], 1e-3)
    assert "tiny" in fit.stdout.split("feature")[-1]  # the summary's table names the features
    passes = int(fit.stdout.split("passes")[1].split()[0])
    epochs = int(fit.stdout.split("converged at epoch")[1].split()[0]) + 1
    # Newton: one pass an epoch, and the summary and its table read its last; L-BFGS: more, plus the table's
    assert passes == epochs if optimizer else passes > epochs + 2


def test_penalised_tables_leave_inference_empty_and_say_why(named_csv, run_cli, tmp_path):
    fit = run_cli(*LBFGS, "--model.l2", "0.01")
    with (run_dirs(tmp_path)[0] / "coefficients.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert all(row["std_error"] == row["p_value"] == "" for row in rows) and all(row["weight"] for row in rows)
    assert "train_objective" in fit.stdout
    hint = "leaves Wald inference undefined; fit with --model.C inf (or --model.l2 0) for them"  # the flags for them
    assert f"no standard errors: a penalty (l2 = 0.01) {hint}" in fit.stdout
    by_C = run_cli(*LBFGS, "--model.C", "2")
    test = run_cli("test", "--ckpt_path", str(run_dirs(tmp_path)[1] / "checkpoints" / "last.ckpt"), "--data",
                   "FileDataModule", "--data.path", "named.csv", "--data.val_fraction", "0", "--data.test_fraction",
                   "0.2", "--data.standardize", "false")  # fmt: skip
    assert f"a penalty (C = 2) {hint}" in by_C.stdout and hint in test.stdout  # the same advice from fit and test


def test_l1_with_sgd_zeroes_irrelevant_weights_exactly(tmp_path, run_cli):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = (rng.random(400) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1.5 * x[:, 1])))).astype(int)
    rows = [",".join(f"{v:.6f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)]
    lines = ["a,b,noise1,noise2,noise3,label", *rows]
    (tmp_path / "l1.csv").write_text("\n".join(lines) + "\n")
    # 20 epochs: the three noise weights are exactly 0 from epoch 10 on (the property does not need convergence)
    run_cli("fit", "--data", "FileDataModule", "--data.path", "l1.csv", "--data.batch_size", "0",
            "--model.lr", "1", "--model.l1", "0.05", "--trainer.max_epochs", "20")  # fmt: skip
    weight, _ = fitted(tmp_path)
    assert (weight[2:] == 0).all() and (weight[:2] != 0).all(), weight
    with (run_dirs(tmp_path)[0] / "coefficients.csv").open() as handle:
        zeros = {row["feature"] for row in csv.DictReader(handle) if float(row["weight"]) == 0}
    assert zeros == {"noise1", "noise2", "noise3"}


def test_a_run_short_of_the_minimum_says_so_and_exits_0(named_csv, run_cli):
    fit = run_cli(*LBFGS, "--trainer.max_epochs", "1", "--optimizer.max_iter", "2")
    warning = [line for line in fit.stderr.splitlines() if line.startswith("logreg: warning:")]
    assert warning == [f"logreg: warning: {fit.stdout.split('convergence      ')[1].splitlines()[0]}"]
    assert "did not converge in max_epochs=1 (max |grad| " in warning[0]


def test_a_fit_stopped_by_max_steps_names_that_flag(named_csv, run_cli):
    """The advice names the limit that stopped the fit: raising max_epochs would not help under max_steps."""
    fit = run_cli(*LBFGS, "--trainer.max_epochs", "5", "--trainer.max_steps", "1", "--optimizer.max_iter", "2")
    warning = [line for line in fit.stderr.splitlines() if line.startswith("logreg: warning:")]
    assert len(warning) == 1 and "did not converge in max_steps=1 (max |grad| " in warning[0], fit.stderr
    assert warning[0].endswith("; raise --trainer.max_steps"), warning


def test_val_and_test_loss_of_a_class_weighted_fit_are_the_log_loss(named_csv, run_cli, tmp_path):
    """With pos_weight, val_loss and test_loss are scikit-learn's log_loss of their rows (comparable across runs and
    sweep trials; they were the class-weighted loss), while train_loss stays the weighted objective that trains."""
    import pandas as pd
    from sklearn.metrics import log_loss

    fit = run_cli("fit", "--config", "tabular", "--data.path", "named.csv", "--data.label", "label",
                  "--model.pos_weight", "balanced")  # fmt: skip
    ckpt = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"
    run_cli("predict", "--ckpt_path", str(ckpt), "--predictions", "p.csv")
    rows = pd.read_csv(tmp_path / "p.csv")
    printed = {line.split()[0]: float(line.split()[1]) for line in fit.stdout.splitlines() if "_loss " in line}
    train = rows[rows.split == "train"]
    for split, pos_weight in (("val", 1.0), ("test", 1.0), ("train", (train.label == 0).sum() / train.label.sum())):
        part = rows[rows.split == split]
        weights = np.where(part.label == 1, pos_weight, 1.0)  # torch's mean of weighted losses: log_loss's x mean
        expected = log_loss(part.label, part.probability, sample_weight=weights) * weights.mean()
        assert printed[f"{split}_loss"] == pytest.approx(expected, abs=2e-4), split


def test_early_stopping_stops_early(run_cli):
    fit = run_cli("fit", "--early_stopping.patience", "2", "--early_stopping.min_delta", "0.01")
    assert "stopped early at epoch " in fit.stdout and "(val_loss did not improve for 2 epochs" in fit.stdout
    assert "logreg: warning" not in fit.stderr


def test_test_prints_the_coefficient_table_of_its_checkpoint(spread_fit, run_cli):
    root, _ = spread_fit()
    run = run_dirs(root)[0]
    test = run_cli("test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--data", "FileDataModule",
                   "--data.path", str(root / "named.csv"), "--data.val_fraction", "0", "--data.test_fraction", "0.2",
                   "--data.standardize", "false")  # fmt: skip
    assert "test_acc" in test.stdout and "(intercept)" in test.stdout and "tiny" in test.stdout


def straight_and_resumed(run_cli, tmp_path, args: tuple[str, ...], stop: int, end: int) -> tuple[dict, dict]:
    """The last checkpoints of ``fit ARGS`` run straight to epoch ``end``, and stopped at ``stop`` then resumed from its
    last.ckpt with the run's config.yaml, each in a directory of its own with a copy of named.csv (tol 1e-12)."""
    args = (*args, "--model.tol", "1e-12")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for root in (straight, resumed):
        root.mkdir()
        (root / "named.csv").write_bytes((tmp_path / "named.csv").read_bytes())
    run_cli(*args, "--trainer.max_epochs", str(end), cwd=straight)
    run_cli(*args, "--trainer.max_epochs", str(stop), cwd=resumed)
    run = run_dirs(resumed)[0]
    run_cli("fit", "--config", str(run / "config.yaml"), "--trainer.max_epochs", str(end), "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"), cwd=resumed)  # fmt: skip
    a, b = (torch.load(run_dirs(root)[0] / "checkpoints" / "last.ckpt", weights_only=True)
            for root in (straight, resumed))  # fmt: skip
    return a, b


@pytest.mark.parametrize("optimizer", [(), NEWTON], ids=["L-BFGS", "Newton"])
def test_a_resumed_lbfgs_run_ends_bitwise_equal(named_csv, run_cli, tmp_path, optimizer):
    """float64 weights are loaded into a float64 model (no float32 rounding on the way), and the optimizer's own state
    (L-BFGS: directions, curvature pairs, last loss; Newton: its last point, direction and step) comes back from the
    checkpoint."""
    a, b = straight_and_resumed(run_cli, tmp_path, (*LBFGS, *optimizer, "--model.l2", "1e-4"), 1, 3)
    assert a["epoch"] == b["epoch"] == 2
    for key in ("linear.weight", "linear.bias"):
        assert a["state_dict"][key].dtype == torch.float64 and torch.equal(a["state_dict"][key], b["state_dict"][key])


def test_streamed_lbfgs_on_a_memory_map_reads_chunks_and_equals_scikit_learn(tmp_path, run_cli, monkeypatch):
    """Full-batch L-BFGS on a memory-mapped ``x.npy``/``y.npy`` directory with validation and test rows held out:
    every objective evaluation reads the training rows once, in chunks of at most ``CHUNK_ROWS`` (the split is
    never gathered), and the weights equal scikit-learn's fitted on those training rows."""
    from sklearn.linear_model import LogisticRegression

    import logreg.data.files
    import logreg.data.indexed
    from logreg import FileDataModule

    x, y = make_data()
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "x.npy", x.astype(np.float32))
    np.save(tmp_path / "npy" / "y.npy", y.astype(np.int8))
    monkeypatch.setattr(logreg.data.indexed, "CHUNK_ROWS", 50)
    reads = []
    host_rows = logreg.data.indexed.host_rows
    monkeypatch.setattr(logreg.data.indexed, "host_rows", lambda *args: reads.append(host_rows(*args)) or reads[-1])
    monkeypatch.setattr(logreg.data.files, "values_checksum", lambda *args: {})  # (the fingerprint's pass of all rows)
    run_cli(*LBFGS[:6], "npy", *RAW, "--model.l2", str(1 / N))
    data = FileDataModule(tmp_path / "npy")
    data.setup("fit")
    train = data.train_idx.numpy()
    sizes = [len(rows) for rows in reads if rows.shape[1] == 4]  # (not the labels' chunks)
    assert max(sizes) <= 50 and sum(sizes) % len(train) == 0 and sum(sizes) >= 10 * len(train)  # whole passes
    reference = LogisticRegression(C=N / len(train), tol=1e-10, max_iter=100_000)
    reference.fit(x[train].astype(np.float32).astype(np.float64), y[train])  # the stored values, in float64
    weight, bias = fitted(tmp_path)
    assert_close(weight, reference.coef_[0], 1e-4)
    assert_close(bias, reference.intercept_[0], 1e-4)


def figure_calls(mp):
    """``{tag: the figure function's arguments}`` of every figure a run logs, recorded instead of drawn."""
    import logreg.report.figures

    calls = {}
    mp.setattr(logreg.report.figures, "log_figure", lambda trainer, tag, draw, *args: calls.__setitem__(tag, args))
    return calls


def test_a_full_batch_summary_and_its_test_are_all_of_the_final_weights(tmp_path, run_cli):
    """L-BFGS two iterations an epoch, so every epoch moves the weights, validated every epoch (asked: a full-batch
    fit validates only its last), on noisy data where the best validation loss comes before the last epoch. The
    summary's train rows, the test after it and the coefficients are all of the final weights (last.ckpt), by
    torch.nn.BCELoss in float64; the loss figure has every evaluation of the objective."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(80, 6))
    y = (rng.random(80) < 1 / (1 + np.exp(-1.5 * x[:, 0]))).astype(int)
    rows = [",".join(f"{v:.6f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)]
    (tmp_path / "noisy.csv").write_text("\n".join(["a,b,c,d,e,f,label", *rows]) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        figures = figure_calls(mp)
        fit = run_cli("fit", "--config", "lbfgs", "--data", "FileDataModule", "--data.path", "noisy.csv",
                      "--optimizer.max_iter", "2", "--trainer.max_epochs", "6", "--model.l2", "0.001",
                      "--validation.every_epoch", "true")  # fmt: skip
    checkpoints = run_dirs(tmp_path)[0] / "checkpoints"
    [best] = checkpoints.glob("best-*.ckpt")
    assert not best.name.startswith("best-epoch=5-")  # the best checkpoint is not the final weights

    from logreg import FileDataModule

    data = FileDataModule(tmp_path / "noisy.csv")  # the run's seeded split
    data.setup("fit")
    state = torch.load(checkpoints / "last.ckpt", weights_only=True)["state_dict"]
    features, labels = data.features.double(), data.labels.view(-1).double()
    scaled = (features - state["feature_mean"].double()) / state["feature_scale"].double()
    probs = torch.sigmoid(scaled @ state["linear.weight"].double().view(-1) + state["linear.bias"].double())
    lines = [line.split() for line in fit.stdout.splitlines()]
    shown = {words[0]: words[1] for words in lines if words and words[0].startswith(("train_", "test_"))}
    for stage, rows in (("train", data.train_idx), ("test", data.test_idx)):
        loss = torch.nn.BCELoss()(probs[rows], labels[rows]).item()
        accuracy = ((probs[rows] > 0.5).double() == labels[rows]).double().mean().item()
        assert (shown[f"{stage}_loss"], shown[f"{stage}_acc"]) == (f"{loss:.4f}", f"{accuracy:.4f}"), stage
    assert "tested           the final weights, as every line above (full batch: the fit ends at its answer)" in (
        fit.stdout
    )
    losses, title, *_ = figures["figures/loss_per_iteration"]
    assert len(losses) > 6 and title == "training objective (loss + penalty), every evaluation"


@pytest.mark.parametrize("optimizer", [(), NEWTON], ids=["L-BFGS", "Newton"])
def test_a_constant_column_gets_weight_0_and_the_rest_equal_a_scaler_pipeline(tmp_path, run_cli, optimizer):
    """A column that never varies carries nothing: scikit-learn's scaled, unpenalised fit gives it weight 0. Found by
    the hostile pass: L-BFGS kept its random starting weight (folded into a wrong intercept), and Newton, with no
    curvature along it, stepped to weights of 1e305."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_data()
    x[:, 2] = 5.0
    write_csv(tmp_path / "named.csv", x, y)
    run_cli(*LBFGS, *optimizer)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=math.inf, tol=1e-10, max_iter=100_000)).fit(x, y)
    scaler, reference = pipeline[0], pipeline[1]
    weight, bias = fitted(tmp_path)
    assert abs(weight[2]) < 1e-9
    assert_close(np.delete(weight, 2), np.delete(reference.coef_[0] / scaler.scale_, 2), 1e-4)
    assert_close(bias, reference.intercept_[0] - float((reference.coef_[0] / scaler.scale_) @ scaler.mean_), 1e-4)


@pytest.fixture
def sampled_newton(monkeypatch):
    """Newton's first steps on samples at 600 rows: chunks of 50 rows (12), the first sample every 64th (chunk 0),
    the next every 8th (chunks 0 and 8)."""
    import logreg.data.indexed
    import logreg.model.newton

    monkeypatch.setattr(logreg.data.indexed, "CHUNK_ROWS", 50)
    monkeypatch.setattr(logreg.model.newton, "SAMPLE_ROWS", 5)


@pytest.mark.parametrize("C", [math.inf, 1.0])
def test_newtons_first_steps_on_a_sample_end_at_scikit_learns_answer(named_csv, run_cli, tmp_path, sampled_newton, C):
    """The steps converge on each sample in turn, then on every row: the answer of every row (scikit-learn's), in
    fewer passes over them than epochs (a sampled pass counts as the fraction of the chunks it reads)."""
    from sklearn.linear_model import LogisticRegression

    x, y = named_csv
    fit = run_cli(*LBFGS, *RAW, *NEWTON, "--model.C", str(C))
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=100_000).fit(x, y)
    weight, bias = fitted(tmp_path)
    assert_close(weight, reference.coef_[0], 1e-4)
    assert_close(bias, reference.intercept_[0], 1e-4)
    ours, theirs = (sklearn_objective(w, b, x, y, C) for w, b in ((weight, bias), (reference.coef_[0],
                                                                                reference.intercept_[0])))  # fmt: skip
    assert abs(ours - theirs) <= 1e-6 * theirs, (ours, theirs)
    passes = float(fit.stdout.split("passes")[1].split()[0])
    epochs = int(fit.stdout.split("converged at epoch")[1].split()[0]) + 1
    assert passes != int(passes) and passes < epochs - 2, (passes, epochs)  # (sampled passes: 1/64, 1/8)


def test_a_resumed_newton_run_ends_bitwise_equal_across_the_samples_end(named_csv, run_cli, tmp_path, sampled_newton):
    """Stopped while still on the sample and resumed past its end: the optimizer's state (its stride among it) comes
    back, and the weights equal a straight run's bit for bit."""
    a, b = straight_and_resumed(run_cli, tmp_path, (*LBFGS, *NEWTON, "--model.l2", "1e-4"), 2, 40)
    assert a["epoch"] == b["epoch"]
    assert [state.get("stride") for state in a["optimizer_states"][0]["state"].values()] == [1]  # past the sample
    for key in ("linear.weight", "linear.bias"):
        assert torch.equal(a["state_dict"][key], b["state_dict"][key])
