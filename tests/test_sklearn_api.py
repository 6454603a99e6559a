"""``LogisticRegressionClassifier`` against scikit-learn: its own estimator checks, ``LogisticRegression``'s
coefficients, ``cross_val_score`` and ``GridSearchCV`` on a table scikit-learn ships, and the CLI on the same data
(coefficients.csv of an L-BFGS run, ``logreg predict`` on a saved estimator)."""

import csv
import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import call_main, figures_off, run_dirs
from logreg import ArrayDataModule, LogisticRegressionClassifier
from test_estimator import NAMES, N, make_data, write_csv


@pytest.fixture(autouse=True)
def quiet_and_one_thread():
    """ConvergenceWarnings of scikit-learn's tiny check data, and Lightning's advice, are not what is tested. One
    torch thread: on data this small a second thread only adds synchronisation (and the suite runs a file per core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


@parametrize_with_checks([LogisticRegressionClassifier(random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check, monkeypatch):
    """Every check passes, or is skipped because the tags declare binary only; none is expected to fail.

    ``check_array_api_input`` skips itself unless SCIPY_ARRAY_API is set; set here (scipy, already imported, keeps
    its mode), it runs: array API dispatch on, NumPy inputs, the same results as with dispatch off."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def reference(x, y, **kwargs):
    """scikit-learn's minimum, to tol 1e-10: the estimators it is compared with get tol 1e-8 (their default, 1e-4 as
    scikit-learn's, stops a few digits short of the minimum)."""
    return LogisticRegression(tol=1e-10, max_iter=100_000, **kwargs).fit(x, y)


def assert_close(ours, theirs, rel=1e-4):
    ours, theirs = np.ravel(ours), np.ravel(theirs)
    assert np.all(np.abs(ours - theirs) <= rel * np.abs(theirs)), (ours, theirs)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``named.csv`` (columns ``tiny, unit, huge, mid``) fitted by the CLI's full-batch L-BFGS (``--config lbfgs.yaml``,
    raw features, l2 = 1 / (C n) for C = 0.05, all rows); its run directory."""
    root = tmp_path_factory.mktemp("cli_run")
    write_csv(root / "named.csv", *make_data())
    with figures_off():  # (a module fixture runs before the per-test fixture that turns them off)
        call_main("fit", "--config", "lbfgs.yaml", "--data", "FileDataModule", "--data.path", "named.csv",
                  "--data.val_fraction", "0", "--data.test_fraction", "0", "--data.standardize", "false",
                  "--model.l2", str(1 / (0.05 * N)), "--trainer.default_root_dir", str(root), cwd=root)  # fmt: skip
    # (an absolute run directory: TensorBoard's writer thread may flush after the command has left root)
    return run_dirs(root)[0]


def test_coefficients_equal_scikit_learn_and_the_cli(cli_run):
    """Raw features, C = 0.05: coef_ and intercept_ equal LogisticRegression(C) and the weights the CLI's
    full-batch L-BFGS run (``--config lbfgs.yaml``, l2 = 1 / (C n)) writes to coefficients.csv."""
    x, y = make_data()
    frame = pd.DataFrame(x, columns=NAMES)
    ours = LogisticRegressionClassifier(C=0.05, standardize=False, max_iter=1000, tol=1e-8).fit(frame, y)
    theirs = reference(x, y, C=0.05)
    assert_close(ours.coef_, theirs.coef_)
    assert_close(ours.intercept_, theirs.intercept_)
    assert ours.coef_.shape == (1, 4) and ours.intercept_.shape == (1,) and ours.n_iter_[0] >= 1
    assert list(ours.feature_names_in_) == NAMES
    with (cli_run / "coefficients.csv").open() as handle:
        cli = {row["feature"]: float(row["weight"]) for row in csv.DictReader(handle)}
    assert_close(ours.coef_, [cli[name] for name in NAMES])
    assert_close(ours.intercept_, cli["(intercept)"])


def test_load_of_a_cli_checkpoint_checks_column_names(cli_run):
    """A checkpoint of ``logreg fit`` on a CSV keeps its column names: the loaded estimator has them as
    ``feature_names_in_`` and refuses a DataFrame whose columns are reordered or renamed (as ``logreg predict``
    refuses such a file), where it would otherwise score the columns in the wrong places."""
    x, _ = make_data()
    frame = pd.DataFrame(x, columns=NAMES)
    loaded = LogisticRegressionClassifier.load(cli_run / "checkpoints" / "last.ckpt")
    assert list(loaded.feature_names_in_) == NAMES
    state = torch.load(cli_run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    weight = state["linear.weight"].double().numpy().ravel() / state["feature_scale"].double().numpy()
    bias = state["linear.bias"].item() - weight @ state["feature_mean"].double().numpy()
    expected = 1 / (1 + np.exp(-(x.astype(np.float32).astype(np.float64) @ weight + bias)))  # a plain sigmoid
    np.testing.assert_allclose(loaded.predict_proba(frame)[:, 1], expected, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match=r"(?s)must be in the same order.*mid, huge, unit, tiny"):
        loaded.predict(frame[NAMES[::-1]])
    with pytest.raises(ValueError, match=r"(?s)Feature names unseen at fit time:\n- small"):
        loaded.predict_proba(frame.rename(columns={"tiny": "small"}))


@pytest.mark.parametrize(("flags", "C"), [(("--model.C", "0.5"), 0.5), (("--model.C", "inf"), math.inf)])
def test_load_of_a_cli_checkpoint_reports_its_threshold_and_C(run_cli, tmp_path, flags, C):
    """get_params() of a loaded ``logreg fit`` checkpoint gives the threshold it predicts at and the C it was fitted
    with (they said 0.5 and 1.0), so that clone() refits that model."""
    from sklearn.base import clone

    x, y = make_data()
    write_csv(tmp_path / "named.csv", x, y)
    run_cli("fit", "--config", "tabular", "--data.path", "named.csv", "--model.threshold", "0.8", *flags)
    loaded = LogisticRegressionClassifier.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    assert (loaded.get_params()["threshold"], loaded.get_params()["C"]) == (0.8, C)
    assert clone(loaded).get_params() == loaded.get_params()
    assert np.array_equal(loaded.predict(x), loaded.classes_[(loaded.predict_proba(x)[:, 1] > 0.8).astype(int)])


@pytest.mark.parametrize(("names", "positive", "classes"),
                         [((0, 1), (), [0, 1]), ((0, 1), ("--data.positive", "0"), [0, 1]),
                          (("no", "yes"), ("--data.positive", "no"), ["no", "yes"])])  # fmt: skip
def test_load_of_a_cli_checkpoint_gives_sorted_classes_and_their_probabilities(
    run_cli, tmp_path, names, positive, classes
):
    """A loaded ``logreg fit`` checkpoint has scikit-learn's ``classes_``: sorted, integers for 0/1 labels (score()
    takes the CSV's int labels), and ``predict_proba[:, 1]`` the probability of ``classes_[1]`` also when the run's
    positive class was the first (``--data.positive``): 1 - the CLI's own predictions for it, with its decisions at
    threshold 0.8. They gave ['1', '0'] (scikit-learn's AUROC 0.17 for 0.83) and a "Mix of label input types"."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    x, y = make_data()
    labels = np.array(names)[y]
    write_csv(tmp_path / "named.csv", x, labels)
    run_cli("fit", "--config", "tabular", "--data.path", "named.csv", "--model.threshold", "0.8", *positive)
    ckpt = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"
    run_cli("predict", "--ckpt_path", str(ckpt), "--predictions", "p.csv")
    cli = pd.read_csv(tmp_path / "p.csv")
    loaded = LogisticRegressionClassifier.load(ckpt)
    assert loaded.classes_.tolist() == classes and type(loaded.classes_[0]) is type(np.array(names)[0])
    flipped = bool(positive)
    assert loaded.get_params()["threshold"] == (0.2 if flipped else 0.8)  # as given: 1 - 0.8 gave 0.19999999
    proba = loaded.predict_proba(x)[:, 1]
    np.testing.assert_allclose(proba, 1 - cli.probability if flipped else cli.probability, rtol=0, atol=1e-6)
    assert np.array_equal(loaded.predict(x).astype(str), cli.predicted_label.astype(str).to_numpy())
    np.testing.assert_allclose(loaded.decision_function(x), x @ loaded.coef_.ravel() + loaded.intercept_, atol=1e-5)
    assert loaded.score(x, labels) == np.mean(loaded.predict(x) == labels)
    assert roc_auc_score(labels, proba) > 0.7  # the labels' order: below 0.5 with the columns swapped
    assert np.array_equal(np.sign(clone(loaded).fit(x, labels).coef_), np.sign(loaded.coef_))


@pytest.mark.parametrize("names", [("False", "True"), ("false", "TRUE"), ("-1", "+1"), ("+1", "-1"), ("0", "1.0"),
                                   ("01", "2"), ("1", "yes")])  # fmt: skip
def test_load_of_a_cli_checkpoint_gives_the_classes_pandas_reads(run_cli, tmp_path, names):
    """``classes_`` of a loaded CLI checkpoint are the label values pandas.read_csv reads from the training file (bool
    for True/False, numbers for +1/-1, 1.0 or 01; the texts for a mix), sorted, so that scikit-learn's ``score``
    takes that column and ``predict_proba[:, 1]`` is the probability of ``classes_[1]``. True/False gave strings
    (score: "Mix of label input types") and +1/-1 gave ['+1', '-1'] with the columns swapped."""
    from sklearn.metrics import roc_auc_score

    x, y = make_data()
    write_csv(tmp_path / "named.csv", x, np.array(names)[y])
    run_cli("fit", "--config", "tabular", "--data.path", "named.csv")
    labels = pd.read_csv(tmp_path / "named.csv").label.to_numpy()
    loaded = LogisticRegressionClassifier.load(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    expected = np.unique(labels).tolist()
    assert loaded.classes_.tolist() == expected and [*map(type, loaded.classes_.tolist())] == [*map(type, expected)]
    assert loaded.score(x, labels) == np.mean(loaded.predict(x) == labels)
    assert roc_auc_score(labels == loaded.classes_[1], loaded.predict_proba(x)[:, 1]) > 0.7


def test_load_names_a_missing_file_without_the_cli_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^\S*missing.ckpt: checkpoint file not found"):
        LogisticRegressionClassifier.load(tmp_path / "missing.ckpt")


def test_load_of_a_bf16_checkpoint_predicts_in_float32(tmp_path):
    """A ``--trainer.precision bf16-true`` run saves bfloat16 weights; the loaded estimator computes with them in
    float32 (not in bfloat16, 8 bits of mantissa): its probabilities equal a float64 sigmoid of the saved weights."""
    call_main("fit", "--trainer.max_epochs", "1", "--trainer.precision", "bf16-true", "--data.test_fraction", "0",
              "--trainer.default_root_dir", str(tmp_path), cwd=tmp_path)  # fmt: skip
    path = run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt"
    state = torch.load(path, weights_only=True)["state_dict"]
    assert state["linear.weight"].dtype == torch.bfloat16
    loaded = LogisticRegressionClassifier.load(path)
    x = np.linspace(-2, 2, 81).reshape(-1, 1)
    weight, bias, mean, scale = (state[key].double().numpy() for key in
                                 ("linear.weight", "linear.bias", "feature_mean", "feature_scale"))  # fmt: skip
    expected = 1 / (1 + np.exp(-(((x - mean) / scale) @ weight.T + bias)))[:, 0]
    np.testing.assert_allclose(loaded.predict_proba(x)[:, 1], expected, rtol=0, atol=1e-6)
    assert loaded.model_.linear.weight.dtype == torch.float32


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "sgd", "adam"])
def test_fit_leaves_torchs_global_generator_alone(solver):
    """Seeded or not, fit draws from generators of its own: torch's global random state is the same afterwards."""
    x, y = make_data()
    before = torch.get_rng_state()
    LogisticRegressionClassifier(solver=solver, max_iter=2, random_state=0).fit(x[:100], y[:100])
    LogisticRegressionClassifier(solver=solver, max_iter=2).fit(x[:100], y[:100])
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize(
    "kwargs",
    [{"C": math.inf}, {"C": 0.5, "class_weight": "balanced"}, {"C": 0.2, "class_weight": {0: 3.0, 1: 0.5}}],
    ids=["no penalty", "balanced", "dict weights"],
)
def test_penalties_and_class_weights_equal_scikit_learn(kwargs):
    x, y = make_data()
    ours = LogisticRegressionClassifier(standardize=False, max_iter=1000, tol=1e-8, **kwargs).fit(x, y)
    theirs = reference(x, y, **kwargs)
    assert_close(ours.coef_, theirs.coef_)
    assert_close(ours.intercept_, theirs.intercept_)


def test_standardized_equals_a_scaler_pipeline():
    """standardize=True puts the penalty on standardised weights: make_pipeline(StandardScaler(), LR(C))."""
    x, y = make_data(spread=20)
    ours = LogisticRegressionClassifier(C=0.05, tol=1e-8).fit(x, y)
    scaler, theirs = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, tol=1e-10)).fit(x, y)
    assert_close(ours.coef_, theirs.coef_ / scaler.scale_)
    assert_close(ours.intercept_, theirs.intercept_ - (theirs.coef_ / scaler.scale_) @ scaler.mean_)


@pytest.mark.parametrize("scale", [1e-20, 1e-13, 3e18, 1e20])
def test_standardised_fit_does_not_depend_on_a_columns_units(scale):
    """A column's units change nothing in a standardised fit, as in scikit-learn's pipeline: the moments are taken in
    float64 (float32 squares overflowed past ~1e19 and underflowed below ~1e-19, dropping the column), the constant
    cut is relative to the column's magnitude (1e-13 was called constant), and a penalised Newton fit's Hessian leaves
    float32 when a squared spread would (3e18 overflowed: 100 stalled steps). Both penalised and unpenalised."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :5].copy()
    x[:, 0] *= scale
    for C in (1.0, math.inf):
        ours = LogisticRegressionClassifier(C=C, tol=1e-9).fit(x, y)
        theirs = make_pipeline(StandardScaler(), LogisticRegression(C=C, tol=1e-10, max_iter=100_000)).fit(x, y)
        assert np.abs(ours.predict_proba(x) - theirs.predict_proba(x)).max() < 1e-5  # 0.0275 before: column 0 dropped


def test_a_column_finer_than_float32_at_its_magnitude_is_named_in_a_warning():
    """float32 rows round a column like 3e7 + N(0, 3.5) to steps of 2 (12 distinct values here): the fit says which
    column and what to do, once, in one line; a column scaled by 1e-13 or constant at 1.7e9 gets no warning."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :4].copy()
    x[:, 1] *= 1e-13
    x[:, 2] = 1.7e9
    x[:, 0] += 3e7
    data = ArrayDataModule(x, y, val_fraction=0.2, test_fraction=0.2, feature_names=["a", "b", "c", "d"])
    data.setup("fit")
    with warnings.catch_warnings(record=True) as caught:  # (a Python warning: scikit-learn code can filter it)
        warnings.simplefilter("always")
        data.feature_stats()
    [warning] = caught
    assert issubclass(warning.category, UserWarning)
    message = str(warning.message)
    assert message.startswith("a: std below |mean| / 2**20") and "subtract an offset" in message
    assert data.constant_columns().tolist() == [False, False, True, False]


def test_cross_validation_and_grid_search_on_breast_cancer():
    """On scikit-learn's breast cancer table: cross_val_score within 1 point of LogisticRegression's mean
    accuracy (both in a pipeline with StandardScaler), and GridSearchCV over C picks the same C, with no
    ConvergenceWarning where scikit-learn's defaults give none (C = 100 takes about 50 iterations to tol 1e-4)."""
    x, y = load_breast_cancer(return_X_y=True)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    ours = cross_val_score(make_pipeline(StandardScaler(), LogisticRegressionClassifier()), x, y, cv=folds)
    theirs = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), x, y, cv=folds)
    assert abs(ours.mean() - theirs.mean()) <= 0.01, (ours, theirs)
    grid = {"C": [0.01, 1.0, 100.0]}  # standardize=True (the default) is the scaler inside the model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = GridSearchCV(LogisticRegressionClassifier(), grid, cv=folds, refit=False, error_score="raise").fit(x, y)
        ours_warned = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        caught.clear()
        theirs = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                              {"logisticregression__C": grid["C"]}, cv=folds, refit=False).fit(x, y)  # fmt: skip
        theirs_warned = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert ours_warned == theirs_warned == [], (ours_warned, theirs_warned)
    assert ours.best_params_["C"] == theirs.best_params_["logisticregression__C"], (
        ours.cv_results_,
        theirs.cv_results_,
    )


def breast_cancer_frame():
    data = load_breast_cancer(as_frame=True)
    names = np.array(["benign", "malignant"])[1 - data.target.to_numpy()]  # 0 = malignant in the dataset
    return data.data.iloc[:, :6], names


def test_save_load_pickle_and_logreg_predict(run_cli, tmp_path):
    """A DataFrame with text labels: save/load and pickle give bitwise the same probabilities; ``logreg predict``
    on the saved checkpoint gives the same probabilities (6 digits, as it writes them) and the same labels."""
    x, labels = breast_cancer_frame()
    model = LogisticRegressionClassifier(C=0.5, threshold=0.3).fit(x, labels)
    proba = model.predict_proba(x)
    model.save(tmp_path / "model.ckpt")
    loaded = LogisticRegressionClassifier.load(tmp_path / "model.ckpt")
    assert np.array_equal(loaded.predict_proba(x), proba) and np.array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_params() == model.get_params() and list(loaded.classes_) == ["benign", "malignant"]
    assert list(loaded.feature_names_in_) == list(x.columns)
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict_proba(x), proba)
    x.to_csv(tmp_path / "new.csv", index=False)  # features only: the predictions' labels come from the checkpoint
    run_cli("predict", "--ckpt_path", "model.ckpt", "--data", "FileDataModule", "--data.path", "new.csv",
            "--predictions", "out.csv")  # fmt: skip
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert np.allclose([float(row["probability"]) for row in rows], proba[:, 1], rtol=1e-5, atol=1e-7)
    assert [row["predicted_label"] for row in rows] == list(model.predict(x))
    assert set(model.predict(x)) == {"benign", "malignant"}


def test_fit_writes_nothing_and_prints_nothing_unless_asked(tmp_path, monkeypatch, capfd):
    x, labels = breast_cancer_frame()
    monkeypatch.chdir(tmp_path)
    LogisticRegressionClassifier().fit(x, labels)
    assert list(tmp_path.iterdir()) == []
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    model = LogisticRegressionClassifier(log_dir=tmp_path / "logs").fit(x, labels)
    run = run_dirs(tmp_path / "logs")[0]
    assert {"config.yaml", "coefficients.csv", "checkpoints"} <= {p.name for p in run.iterdir()}
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(run)).Reload().Tags()["scalars"]
    assert {"train_loss", "train_acc", "grad_norm"} <= set(scalars), scalars  # (a fit without log_dir records none)
    again = LogisticRegressionClassifier.load(run / "checkpoints" / "last.ckpt")
    assert np.array_equal(again.predict_proba(x), model.predict_proba(x))


def test_pyarrow_and_numpy_inputs_give_the_same_model():
    x, labels = breast_cancer_frame()
    table = pa.Table.from_pandas(x)
    from_arrow = LogisticRegressionClassifier().fit(table, labels)
    from_numpy = LogisticRegressionClassifier().fit(x.to_numpy(), labels)
    assert list(from_arrow.feature_names_in_) == list(x.columns)
    assert np.array_equal(from_arrow.coef_, from_numpy.coef_)
    assert np.array_equal(from_arrow.predict(table), from_numpy.predict(x.to_numpy()))


@pytest.mark.parametrize(
    ("kwargs", "y", "words"),
    [
        ({}, [0, 1, 2, 0, 1, 2], "Only binary classification is supported"),
        ({"l1_ratio": 0.5}, [0, 1, 0, 1, 0, 1], "l1_ratio > 0 needs solver='sgd'"),
        ({"class_weight": {5: 1.0}}, [0, 1, 0, 1, 0, 1], "class_weight: 5 is not a class of y"),
        ({"solver": "cholesky"}, [0, 1, 0, 1, 0, 1], "solver must be one of auto, newton, lbfgs, sgd, adam"),
        ({"batch_size": 8}, [0, 1, 0, 1, 0, 1], "batch_size applies to 'sgd' and 'adam'"),
    ],
    ids=["third class", "l1 with auto", "unknown class weight", "unknown solver", "auto batch"],
)
def test_refusals_are_one_line(kwargs, y, words):
    x = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match=r"^[^\n]*$") as error:
        LogisticRegressionClassifier(**kwargs).fit(x, y)
    assert words in str(error.value)


def test_array_data_module_codes_labels_and_standardizes_like_scikit_learn():
    """Labels 0/1 by sorted value; the training split's mean and scale equal StandardScaler's."""
    x, labels = breast_cancer_frame()
    data = ArrayDataModule(x, labels, val_fraction=0.2, test_fraction=0.2)
    data.setup("fit")
    assert data.classes == ["benign", "malignant"] and data.feature_names == list(x.columns)
    assert np.array_equal(data.labels.view(-1).numpy(), (labels == "malignant").astype(np.float32))
    scaler = StandardScaler().fit(x.to_numpy(np.float32)[data.train_idx.numpy()].astype(np.float64))
    mean, scale = data.feature_stats()
    assert np.allclose(mean.numpy(), scaler.mean_, rtol=1e-6) and np.allclose(scale.numpy(), scaler.scale_, rtol=1e-5)
    assert len(data.train_idx) + len(data.val_idx) + len(data.test_idx) == len(labels)


def test_a_column_float32_rounds_to_one_value_is_named_in_a_warning():
    """1.7e9 plus 0 to 40 varies in the float64 array, but is one float32 value: scikit-learn would fit it, logreg's
    float32 rows cannot, so the fit says so (a warning naming the column) instead of weighting it 0 in silence."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :3].copy()
    x[:, 1] = 1.7e9 + np.arange(len(x)) % 41
    with pytest.warns(UserWarning, match=r"^x1: the values differ, but as float32 \(the rows' storage\)"):
        LogisticRegressionClassifier().fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        LogisticRegressionClassifier().fit(x[:, [0, 2]], y)
