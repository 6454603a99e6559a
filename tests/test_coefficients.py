"""The coefficient table: raw-unit weights and Wald inference against statsmodels, chunking, memory maps, the
training split, separated data, the CSV file and the rendered forms."""

import csv
import math
import re

import numpy as np
import pytest
import torch

from logreg.report.coefficients import (
    COLUMNS,
    INTERCEPT,
    CoefficientTable,
    coefficient_table,
    summary_lines,
    to_markdown,
    write_csv,
)

NAMES = ["tiny", "unit", "huge", "five"]
STDS = np.array([0.01, 1.0, 100.0, 5.0])
MEANS = np.array([3.0, -1.0, 500.0, 2.0])
TRUE_WEIGHTS = np.array([60.0, -0.5, 0.012, 0.1])  # per-feature log-odds spreads 0.6, 0.5, 1.2, 0.5
TRUE_BIAS = 0.4 - float(TRUE_WEIGHTS @ MEANS)


def make_data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy (never separable) labels of 4 features on very different scales; x is float32 like the model's."""
    rng = np.random.default_rng(seed)
    x = (MEANS + STDS * rng.standard_normal((n, len(NAMES)))).astype(np.float32)
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ TRUE_WEIGHTS + TRUE_BIAS)))
    y = (rng.random(n) < p).astype(np.float32)
    return x, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_data()


@pytest.fixture(scope="module")
def reference(data):
    """statsmodels' unpenalised maximum-likelihood fit on the same float32 values, in float64."""
    logit = pytest.importorskip("statsmodels.discrete.discrete_model").Logit
    x, y = data
    design = np.column_stack([np.ones(len(x)), x.astype(np.float64)])
    return logit(y.astype(np.float64), design).fit(disp=0)


def standardised(raw_bias: float, raw_weights: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple:
    """Raw-unit parameters as the model holds them: weights on (x - mean) / scale, and the bias."""
    weight = torch.from_numpy(raw_weights * scale).view(1, -1)
    bias = torch.tensor([raw_bias + float(raw_weights @ mean)], dtype=torch.float64)
    return weight, bias


def table_of(data, params, inference: bool = True, **kwargs) -> CoefficientTable:
    x, y = data
    features = kwargs.pop("features", torch.from_numpy(x))
    return coefficient_table(*params, features, torch.from_numpy(y).view(-1, 1), NAMES, inference=inference, **kwargs)


def as_model_holds(data, raw_bias: float, raw_weights: np.ndarray) -> tuple:
    """Raw-unit parameters standardised with the data's mean and standard deviation, and those stats."""
    x = data[0].astype(np.float64)
    mean, scale = x.mean(0), x.std(0)
    weight, bias = standardised(raw_bias, raw_weights, mean, scale)
    return weight, bias, torch.from_numpy(mean), torch.from_numpy(scale)


@pytest.fixture(scope="module")
def model_params(data):
    """The data's generating parameters (close to the fit) as the model would hold them: no statsmodels needed."""
    return as_model_holds(data, TRUE_BIAS, TRUE_WEIGHTS)


def with_stats(model_params) -> tuple[tuple, dict]:
    weight, bias, mean, scale = model_params
    return (weight, bias), {"mean": mean, "scale": scale}


def by_name(table: CoefficientTable) -> dict:
    return {row.feature: row for row in table.rows}


def max_relative(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def test_weights_and_inference_equal_statsmodels(data, reference):
    params, stats = with_stats(as_model_holds(data, reference.params[0], reference.params[1:]))
    table = table_of(data, params, **stats)
    assert table.reason is None
    rows = by_name(table)
    order = [INTERCEPT, *NAMES]  # statsmodels' parameter order
    column = {name: np.array([getattr(rows[f], name) for f in order]) for name in COLUMNS[1:] if name != "std_weight"}
    conf = reference.conf_int()
    expected = {"weight": reference.params, "std_error": reference.bse, "z": reference.tvalues,
                "p_value": reference.pvalues, "ci_low": conf[:, 0], "ci_high": conf[:, 1],
                "odds_ratio": np.exp(reference.params)}  # fmt: skip
    for name, theirs in expected.items():
        assert max_relative(column[name], theirs) < 1e-6, name
    x = data[0].astype(np.float64)
    std_weight = np.array([rows[f].std_weight for f in NAMES])
    assert max_relative(std_weight, reference.params[1:] * x.std(0)) < 1e-9
    assert rows[INTERCEPT].std_weight is None


def test_standardisation_off_gives_the_same_table(data, model_params):
    """With mean 0 and scale 1 (the model's default) the weights are raw and std_weight comes from the data."""
    params, stats = with_stats(model_params)
    folded = table_of(data, params, **stats)
    raw = table_of(data, (torch.from_numpy(TRUE_WEIGHTS), TRUE_BIAS))
    for ours, theirs in zip(raw.rows, folded.rows, strict=True):
        assert ours.feature == theirs.feature
        np.testing.assert_allclose(
            [v for v in ours[1:] if v is not None], [v for v in theirs[1:] if v is not None], rtol=1e-9
        )


def test_rows_are_intercept_then_by_absolute_std_weight(data, model_params):
    params, stats = with_stats(model_params)
    table = table_of(data, params, **stats)
    assert table.rows[0].feature == INTERCEPT
    magnitudes = [abs(row.std_weight) for row in table.rows[1:]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert sorted(row.feature for row in table.rows[1:]) == sorted(NAMES)
    # the raw weights alone would order the features differently: the table does compare across scales
    assert [row.feature for row in table.rows[1:]] != sorted(NAMES, key=lambda f: -abs(by_name(table)[f].weight))


def test_without_inference_the_cells_are_empty(data, model_params):
    params, stats = with_stats(model_params)
    table = table_of(data, params, inference=False, **stats)
    assert table.reason is None
    for row in table.rows:
        assert (row.std_error, row.z, row.p_value, row.ci_low, row.ci_high) == (None,) * 5
        assert row.weight is not None and row.odds_ratio == pytest.approx(math.exp(row.weight))


def test_chunked_equals_unchunked(data, model_params):
    params, stats = with_stats(model_params)
    whole = table_of(data, params, chunk_rows=len(data[0]), **stats)
    chunked = table_of(data, params, chunk_rows=97, **stats)
    assert [r.feature for r in whole.rows] == [r.feature for r in chunked.rows]
    for ours, theirs in zip(chunked.rows, whole.rows, strict=True):
        np.testing.assert_allclose([v or 0.0 for v in ours[1:]], [v or 0.0 for v in theirs[1:]], rtol=1e-10)


def test_memory_map_gives_the_same_table_as_a_tensor(data, model_params, tmp_path):
    params, stats = with_stats(model_params)
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=data[0].shape)
    mapped[:] = data[0]
    mapped.flush()
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    rows = torch.randperm(len(data[0]), generator=torch.Generator().manual_seed(0))[:1500]  # unsorted on purpose
    from_map = table_of(data, params, features=mapped, rows=rows, chunk_rows=256, **stats)
    from_tensor = table_of(data, params, rows=rows, chunk_rows=256, **stats)
    assert from_map == from_tensor


def test_the_training_rows_alone_are_used(data, model_params):
    """A table on a row subset equals the table of that subset as its own data, and differs from all rows'."""
    params, stats = with_stats(model_params)
    train = torch.arange(0, len(data[0]), 3)
    subset = table_of(data, params, rows=train, **stats)
    alone = table_of((data[0][train.numpy()], data[1][train.numpy()]), params, **stats)
    everything = table_of(data, params, **stats)
    for ours, theirs in zip(subset.rows, alone.rows, strict=True):
        np.testing.assert_allclose([v or 0.0 for v in ours[1:]], [v or 0.0 for v in theirs[1:]], rtol=1e-10)
    assert by_name(subset)["huge"].std_error > 1.5 * by_name(everything)["huge"].std_error  # a third of the rows
    assert by_name(subset)["huge"].std_weight != by_name(everything)["huge"].std_weight


def separated_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-3, 3, 200, dtype=np.float32).reshape(-1, 1)
    return x, (x[:, 0] > 0.01).astype(np.float32)


def test_perfectly_separated_data_leaves_inference_empty_with_a_reason():
    x, y = separated_data()
    weight, bias = torch.tensor([[40.0]]), torch.tensor([-0.6])  # boundary at 0.015: every row on its side
    table = coefficient_table(weight, bias, torch.from_numpy(x), torch.from_numpy(y), ["x"], inference=True)
    assert table.reason is not None and "separates" in table.reason
    for row in table.rows:
        assert (row.std_error, row.z, row.p_value, row.ci_low, row.ci_high) == (None,) * 5
    assert by_name(table)["x"].weight == pytest.approx(40.0)


def test_saturated_probabilities_leave_inference_empty_with_a_reason():
    """Separated classes that the model has not fully separated: the information is still near-singular."""
    x, y = separated_data()
    weight, bias = torch.tensor([[4000.0]]), torch.tensor([-100.0])  # boundary at 0.025: one row misclassified
    table = coefficient_table(weight, bias, torch.from_numpy(x), torch.from_numpy(y), ["x"], inference=True)
    assert table.reason is not None and "Fisher information" in table.reason
    assert table.rows[1].std_error is None


def test_collinear_features_leave_inference_empty_with_a_reason(data):
    x, y = data
    doubled = np.column_stack([x[:, :2], 2 * x[:, 1]])
    table = coefficient_table(torch.tensor([0.1, 0.2, 0.3]), 0.0, torch.from_numpy(doubled), torch.from_numpy(y),
                              ["a", "b", "twice_b"], inference=True)  # fmt: skip
    assert table.reason is not None and "singular" in table.reason
    assert all(row.std_error is None for row in table.rows)


def test_csv_round_trips_with_the_exact_header(data, model_params, tmp_path):
    params, stats = with_stats(model_params)
    table = table_of(data, params, **stats)
    path = tmp_path / "coefficients.csv"
    path.write_text("an older table\n")
    write_csv(table, path)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        read = list(reader)
    assert [r["feature"] for r in read] == [row.feature for row in table.rows]
    assert read[0]["std_weight"] == ""
    for written, row in zip(read, table.rows, strict=True):
        for name in COLUMNS[1:]:
            value = getattr(row, name)
            assert (written[name] == "") if value is None else float(written[name]) == pytest.approx(value, rel=1e-9)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_csv_without_inference_has_empty_cells(data, model_params, tmp_path):
    params, stats = with_stats(model_params)
    write_csv(table_of(data, params, inference=False, **stats), tmp_path / "c.csv")
    with (tmp_path / "c.csv").open(newline="") as handle:
        for written in csv.DictReader(handle):
            assert [written[name] for name in COLUMNS[4:]] == [""] * 5


def test_a_failed_write_says_why_and_leaves_no_temporary_file(data, model_params, tmp_path):
    params, stats = with_stats(model_params)
    table = table_of(data, params, **stats)
    with pytest.raises(ValueError, match="the coefficient table: cannot write"):
        write_csv(table, tmp_path / "missing" / "coefficients.csv")
    occupied = tmp_path / "coefficients.csv"
    (occupied / "inside").mkdir(parents=True)  # a directory in the way: the rename fails after the write
    with pytest.raises(ValueError, match="the coefficient table: cannot write"):
        write_csv(table, occupied)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["coefficients.csv"]


def test_markdown_and_summary_name_the_rows(data, model_params):
    params, stats = with_stats(model_params)
    table = table_of(data, params, **stats)
    markdown = to_markdown(table).splitlines()
    assert markdown[0] == "| " + " | ".join(COLUMNS) + " |"
    assert len(markdown) == 2 + len(table.rows)
    assert [line.split("|")[1].strip() for line in markdown[2:]] == [row.feature for row in table.rows]
    lines = summary_lines(table, top=2)
    assert lines[0].split() == ["feature", "weight", "std_weight", "odds_ratio", "p_value"]
    assert [line.split()[0] for line in lines[1:4]] == [INTERCEPT, table.rows[1].feature, table.rows[2].feature]
    assert lines[-1] == "(2 more features not shown)"
    assert len({len(line) for line in lines[:4]}) == 1  # aligned columns


def test_rendered_forms_give_the_reason():
    x, y = separated_data()
    table = coefficient_table(torch.tensor([[40.0]]), -0.6, torch.from_numpy(x), torch.from_numpy(y), ["x_1"],
                              inference=True)  # fmt: skip
    assert "x\\_1" in to_markdown(table) and "No standard errors: the model separates" in to_markdown(table)
    lines = summary_lines(table)
    assert "p_value" not in lines[0] and lines[-1].startswith("no standard errors: the model separates")


def test_mismatched_shapes_are_refused(data):
    x, y = data
    with pytest.raises(ValueError, match="named columns"):
        coefficient_table(torch.zeros(4), 0.0, torch.from_numpy(x), torch.from_numpy(y), NAMES[:3])
    with pytest.raises(ValueError, match="weight has 3 values"):
        coefficient_table(torch.zeros(3), 0.0, torch.from_numpy(x), torch.from_numpy(y), NAMES)


def test_the_table_reaches_tensorboard_and_no_writer_is_left_open(run_cli, tmp_path):
    """The coefficient text is written after fit closed the logger: it must land in an event file that is closed
    again, not in a writer thread left running after the command (which may flush after the run dir is gone)."""
    import threading

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def writer_threads() -> int:
        return sum(type(t).__name__ == "_AsyncWriterThread" for t in threading.enumerate())

    before = writer_threads()
    run_cli("fit", "--trainer.max_epochs", "1", "--data.test_fraction", "0")
    assert writer_threads() == before
    events = EventAccumulator(str(tmp_path / "lightning_logs" / "version_0"), size_guidance={"tensors": 0})
    events.Reload()
    assert any(tag.startswith("coefficients") for tag in events.Tags()["tensors"])


def test_test_on_other_rows_prints_the_fits_weights_without_their_stds_or_inference(run_cli, tmp_path):
    """``logreg test --data.path OTHER``: standard errors and unstandardised std_weights would be those of OTHER's
    rows at the fit's weights, which describe no model; the table keeps the weights and says where the fit's is."""
    for name, seed, spread in (("fit.csv", 0, 1.0), ("other.csv", 1, 7.0)):
        x, y = make_data(600, seed)
        rows = np.column_stack([MEANS + (x - MEANS) * spread, y])
        np.savetxt(tmp_path / name, rows, delimiter=",", header=",".join([*NAMES, "label"]), comments="", fmt="%.8g")
    run_cli("fit", "--config", "lbfgs.yaml", "--data.path", "fit.csv", "--data.standardize", "false")
    with (tmp_path / "lightning_logs/version_0/coefficients.csv").open() as handle:
        fitted = {row["feature"]: row for row in csv.DictReader(handle)}
    ckpt = "lightning_logs/version_0/checkpoints/last.ckpt"
    own, other = (run_cli("test", "--ckpt_path", ckpt, *data).stdout for data in ([], ["--data.path", "other.csv"]))
    assert "p_value" in own.split("\nfeature")[1].splitlines()[0]  # the fit's rows: the fit's table
    header, *lines = other.split("\nfeature")[1].splitlines()
    assert "p_value" not in header and "std_weight" in header
    shown = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in fitted}
    assert set(shown) == set(fitted)
    for feature, cells in shown.items():
        assert float(cells[1]) == pytest.approx(float(fitted[feature]["weight"]), rel=1e-3)
        assert cells[2] == "-"  # std_weight needs the fit's stds, which other.csv does not have
    assert "not the rows the model was fitted on" in other
    assert re.search(r"^scored  the test split of other\.csv: 1[12]\d of its 600 rows, split as the fit", other, re.M)
    assert "scored  the test split" not in own


@pytest.mark.parametrize("standardize", [True, False])
def test_the_tables_pass_is_the_summarys_and_gives_newtons_information(data, standardize):
    """The summary's loss, accuracy and gradient read the coefficient table's pass (``keep``) bit for bit as a pass
    of their own gives them, and its Fisher information of ``[w, b]`` is the one Newton's pass sums at those weights."""
    from logreg.model.logistic import LogisticRegression, chunk_sums, fold_standardization

    x, y = data
    features, labels, rows = torch.from_numpy(x), torch.from_numpy(y).view(-1, 1), torch.arange(1, len(x), 2)
    torch.manual_seed(0)
    model = LogisticRegression(n_inputs=len(NAMES), threshold=0.3).double()
    if standardize:
        model.set_standardization(torch.from_numpy(x.mean(0)).double(), torch.from_numpy(x.std(0)).double())
    own = model.training_fit(features, labels, rows)
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    table = coefficient_table(weight, bias, features, labels, NAMES, rows=rows, inference=True, mean=model.feature_mean,
                              scale=model.feature_scale, cut=math.log(0.3 / 0.7),
                              keep=lambda total, center: model.keep_table_pass(total, center, len(rows)))  # fmt: skip
    passes, kept = model.passes, model.training_fit(features, labels, rows)
    assert model.passes == passes and kept == own and table.rows
    mean, scale = model.feature_mean, model.feature_scale
    scaled, shift = fold_standardization(weight.view(-1), bias, mean, scale)
    total = chunk_sums("bce", features[rows], labels[rows].view(-1), scaled, shift, None, mean)  # Newton's
    to_params = torch.cat([1 / scale, torch.ones(1, dtype=torch.float64)])
    d = len(NAMES)
    newton = total[d + 2 : d + 2 + (d + 1) ** 2].view(d + 1, d + 1) * to_params[:, None] * to_params[None, :]
    torch.testing.assert_close(model.final_pass.information, newton, rtol=1e-9, atol=0)
