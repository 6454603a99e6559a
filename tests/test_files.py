"""FileDataModule: the user's own files through the CLI and the data module, standardisation and predictions.

The reader's own checks and messages are tested in test_readers.py."""

import csv
import json
import runpy
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, run_dirs
from logreg import FileDataModule, LogisticRegression, ThresholdDataModule
from logreg.checkpoint import load_model


def write_csv(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def separable_rows(n=120, seed=0, labels=("no", "yes")):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) * [1.0, 50.0] + [3.0, -20.0]
    y = [labels[int(a - 3 + (b + 20) / 50 > 0)] for a, b in x]
    return [[f"{a:.5f}", f"{b:.5f}", label] for (a, b), label in zip(x, y, strict=True)]


@pytest.mark.parametrize("block_bytes", [None, 4096])  # the default block: one here; 341 rows: blocks and threads
def test_the_values_checksum_sees_a_changed_value_swapped_cells_and_swapped_rows(monkeypatch, block_bytes):
    """The fingerprint's checksums of every row: any value, label, two cells of a row or two rows (also 251 apart,
    and in two blocks) changed give others; the same rows as a tensor or a memory map, on any number of threads, give
    the same."""
    import logreg.data.indexed
    from logreg.data.indexed import values_checksum

    if block_bytes:
        monkeypatch.setattr(logreg.data.indexed, "CHECKSUM_BYTES", block_bytes)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40000, 3)).astype(np.float32), torch.from_numpy((rng.random((40000, 1)) < 0.5) * 1.0)
    base = values_checksum(torch.from_numpy(x), y.float())
    assert values_checksum(x, y.to(torch.int8)) == base  # a map's rows are NumPy arrays; y.npy's labels int8
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert values_checksum(x, y) == base
    finally:
        torch.set_num_threads(threads)
    swaps = {
        "two cells": ((30000, [0, 1]), (30000, [1, 0])),
        "two rows": ([30000, 30001], [30001, 30000]),
        "rows 251 apart": ([20000, 20251], [20251, 20000]),
        "rows in two blocks": ([100, 30000], [30000, 100]),
    }
    for what, (to, source) in [*swaps.items(), ("a value", ((39999, 1), (39998, 1)))]:
        other = x.copy()
        other[to] = x[source]
        assert not np.array_equal(other, x), what
        assert values_checksum(other, y)["feature_values"] != base["feature_values"], what
        assert values_checksum(other, y)["label_values"] == base["label_values"], what
    flipped = y.clone()
    flipped[35000] = 1 - flipped[35000]
    assert values_checksum(x, flipped) == {**base, "label_values": values_checksum(x, flipped)["label_values"]}
    assert values_checksum(x, flipped)["label_values"] != base["label_values"]


def test_n_feature_model_reaches_95_percent_on_noiseless_data(tiny_trainer):
    data = ThresholdDataModule(n_features=5, n_samples=2000, batch_size=32, data_seed=1)
    model = LogisticRegression(n_inputs=data.n_features, lr=0.5)
    trainer = tiny_trainer(max_epochs=5)
    trainer.fit(model, data)
    [result] = trainer.test(model, data, verbose=False)
    assert result["test_acc"] >= 0.95


def test_csv_is_read_with_original_labels(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "label"], separable_rows())
    data = FileDataModule(path)
    assert data.features.shape == (120, 2) and data.n_features == 2
    assert data.classes == ["no", "yes"] and data.feature_names == ["a", "b"]
    assert set(data.labels.view(-1).tolist()) == {0.0, 1.0}


def test_npz_is_accepted(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    data = FileDataModule(tmp_path / "d.npz")
    assert data.n_features == 3 and torch.equal(data.features, torch.from_numpy(x))


def test_standardisation_uses_the_train_split_only_and_is_kept_for_predict(tmp_path, tiny_trainer):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "label"], separable_rows())
    data = FileDataModule(path)
    data.setup("fit")
    mean, scale = data.feature_stats()
    train = data.features[data.train_idx]
    assert torch.allclose(mean, train.mean(0), atol=1e-4)
    assert torch.allclose(scale, train.std(0, unbiased=False), rtol=1e-4)
    assert not torch.allclose(mean, data.features.mean(0), atol=1e-4)  # not the whole file's statistics
    model = LogisticRegression(n_inputs=2)
    trainer = tiny_trainer(enable_checkpointing=True)
    trainer.fit(model, data)
    assert torch.equal(model.feature_mean, mean) and torch.equal(model.feature_scale, scale)
    ckpt = torch.load(trainer.checkpoint_callback.best_model_path, weights_only=True)
    assert torch.equal(ckpt["state_dict"]["feature_mean"], mean)
    restored = LogisticRegression.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    assert torch.equal(restored.feature_scale, scale)


def test_constant_column_is_not_divided_by_zero(tmp_path):
    rows = [[r[0], "7", r[2]] for r in separable_rows()]
    data = FileDataModule(write_csv(tmp_path / "d.csv", ["a", "const", "label"], rows))
    data.setup("fit")
    mean, scale = data.feature_stats()
    assert scale[1] == 1.0 and mean[1] == 7.0


def test_csv_round_trip_fit_checkpoint_predict(tmp_path, run_cli):
    rows = separable_rows(200)
    write_csv(tmp_path / "train.csv", ["a", "b", "label"], rows)
    write_csv(tmp_path / "new.csv", ["a", "b"], [r[:2] for r in rows[:30]])
    fit = run_cli("fit", "--data", "FileDataModule", "--data.path", "train.csv", "--model.lr", "0.5",
                  "--trainer.max_epochs", "5")  # fmt: skip
    assert "0 = 'no', 1 = 'yes'" in fit.stdout
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "new.csv",
            "--predictions", "out.csv")  # fmt: skip
    from logreg.writes import current_umask

    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o666 & ~current_umask()  # a plain file, not mkstemp's
    with (tmp_path / "out.csv").open() as handle:
        out = list(csv.DictReader(handle))
    assert len(out) == 30 and list(out[0]) == ["probability", "predicted_label"]
    truth = [r[2] for r in rows[:30]]
    predicted = [r["predicted_label"] for r in out]
    assert set(predicted) <= {"no", "yes"}
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) >= 27  # rows stay in input order
    assert all((float(r["probability"]) > 0.5) == (r["predicted_label"] == "yes") for r in out)

    run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "train.csv",
            "--predictions", "labelled.csv")  # fmt: skip
    with (tmp_path / "labelled.csv").open() as handle:
        labelled = list(csv.DictReader(handle))
    assert len(labelled) == 200 and [r["label"] for r in labelled] == [r[2] for r in rows]
    # The run's own file: each row's split, by which its test metrics are reproduced from the predictions alone
    split = [r["split"] for r in labelled]
    assert {name: split.count(name) for name in ("train", "val", "test")} == {"train": 120, "val": 40, "test": 40}
    tested = run_cli("test", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "train.csv").stdout
    reported = dict(line.split() for line in tested.splitlines() if line.startswith(("test_acc ", "test_recall ")))
    test_rows = [r for r in labelled if r["split"] == "test"]
    positives = [r for r in test_rows if r["label"] == "yes"]
    accuracy = sum(r["predicted_label"] == r["label"] for r in test_rows) / len(test_rows)
    recall = sum(r["predicted_label"] == "yes" for r in positives) / len(positives)
    assert reported == {"test_acc": f"{accuracy:.4f}", "test_recall": f"{recall:.4f}"}

    again = run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "new.csv",
                    "--predictions", "out.csv", check=False)  # fmt: skip
    assert again.returncode != 0 and "--overwrite" in again.stderr
    assert [p.name for p in tmp_path.glob(".out.csv*")] == []
    (tmp_path / "out.csv").chmod(0o640)
    run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "new.csv",
            "--predictions", "out.csv", "--overwrite", "true")  # fmt: skip
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept


def test_positive_class_and_split_follow_the_rows_not_the_spelling(tmp_path):
    """Labels "not improved"/"improved" sort the other way round from "no"/"yes": the split is the same, and
    ``positive`` names class 1 whatever the spelling sorts to."""
    rows = separable_rows(120)
    text = write_csv(tmp_path / "a.csv", ["a", "b", "label"], [[a, b, {"no": "not improved", "yes": "improved"}[y]]
                                                              for a, b, y in rows])  # fmt: skip
    plain = FileDataModule(write_csv(tmp_path / "b.csv", ["a", "b", "label"], rows))
    sorted_text, positive = FileDataModule(text), FileDataModule(text, positive=" improved")
    assert sorted_text.classes == ["improved", "not improved"] and positive.classes == ["not improved", "improved"]
    assert torch.equal(positive.labels, plain.labels) and torch.equal(sorted_text.labels, 1 - plain.labels)
    for data in (plain, sorted_text, positive):
        data.setup("fit")
    for one in (sorted_text, positive):
        assert all(torch.equal(getattr(one, f"{s}_idx"), getattr(plain, f"{s}_idx")) for s in ("train", "val", "test"))


def test_missing_label_column_fails_for_fit_but_not_predict(tmp_path):
    data = FileDataModule(write_csv(tmp_path / "d.csv", ["a", "b"], [["1", "2"], ["3", "4"]]))
    data.setup("predict")
    with pytest.raises(ValueError, match="no label column 'label'"):
        data.setup("fit")


def test_too_few_rows_for_the_split(tmp_path):
    data = FileDataModule(write_csv(tmp_path / "d.csv", ["a", "label"], [["1", "0"], ["2", "1"], ["3", "1"]]))
    with pytest.raises(ValueError, match="3 rows are too few for this split"):
        data.setup("fit")


def test_bad_file_through_the_cli_trains_nothing(tmp_path, run_cli):
    (tmp_path / "bad.csv").write_text("a,label\n1,0\nx,1\n")
    proc = run_cli("fit", "--data", "FileDataModule", "--data.path", "bad.csv", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "logreg: error: bad.csv, row 3, column 'a': not a number: 'x'"
    assert not (tmp_path / "lightning_logs").exists()


def test_compare_losses_runs_the_four_experiments(tmp_path, monkeypatch, capsys):
    """The script as ``python scripts/compare_losses.py`` runs it (its ``__main__``), in this process."""
    script = REPO / "scripts" / "compare_losses.py"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "--epochs", "1", "--root", str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("BCE", "MSE"))]
    assert len(lines) == 4
    assert sorted(p.name for p in (tmp_path / "compare").iterdir() if p.is_dir()) == [
        "bce-bad", "bce-random", "mse-bad", "mse-random"
    ]  # fmt: skip
    assert (tmp_path / "compare" / "compare_losses.png").stat().st_size > 10_000
    mse_bad = next(line for line in lines if line.startswith("MSE   bad"))
    assert float(mse_bad.split()[-1]) < 0.9  # MSE from the bad start has not learned the boundary


def test_parquet_and_a_converted_directory_train_like_the_csv(tmp_path, run_cli):
    """The same rows as CSV, as Parquet and as a ``logreg convert`` directory give the same model, names, labels."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    write_csv(tmp_path / "d.csv", ["a", "b", "label"], separable_rows(200))
    pq.write_table(pa_csv.read_csv(tmp_path / "d.csv"), tmp_path / "d.parquet")
    converted = run_cli("convert", "d.csv", "big")
    assert converted.stdout.strip() == "wrote big: 200 rows x 2 features (labels 0 = 'no', 1 = 'yes')"
    weights = []
    for path in ("d.csv", "d.parquet", "big"):
        fit = run_cli("fit", "--data", "FileDataModule", "--data.path", path, "--trainer.max_epochs", "2")
        assert "0 = 'no', 1 = 'yes'" in fit.stdout
        ckpt = torch.load(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["datamodule_hyper_parameters"]["label"] == "label"
        weights.append(ckpt["state_dict"]["linear.weight"])
    assert torch.equal(weights[0], weights[1])  # the same rows in memory: the same bits
    # A memory map's batches are gathered in sorted row order (sequential reads), so each batch's gradient is summed in
    # another order: equal to float32 rounding (bitwise only while batches had 2 rows, before FileDataModule's own 32).
    torch.testing.assert_close(weights[2], weights[0], rtol=1e-5, atol=1e-6)


def test_convert_errors_are_one_line_and_write_nothing(tmp_path, run_cli):
    (tmp_path / "bad.csv").write_text("a,label\n1,0\n2,x\n3,y\n")
    proc = run_cli("convert", "bad.csv", "out", check=False)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == "logreg: error: bad.csv, row 4, column 'label': third label value 'y' "
        "(labels must take two values; seen '0', 'x')"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]
    proc = run_cli("convert", "bad.csv", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "out_dir" in proc.stderr


def test_a_run_fitted_with_positive_is_tested_on_its_own_unchanged_data(tmp_path, run_cli):
    """The labels' checksum is taken in the file's own coding: test and validate rebuild the run's data module
    without ``positive`` (the checkpoint's classes code the labels), and must not call the unchanged file changed."""
    write_csv(tmp_path / "train.csv", ["a", "b", "label"], separable_rows(120))
    assert FileDataModule(tmp_path / "train.csv", positive="no").fingerprint() == FileDataModule(
        tmp_path / "train.csv"
    ).fingerprint()  # fmt: skip
    run_cli("fit", "--data", "FileDataModule", "--data.path", "train.csv", "--trainer.max_epochs", "1",
            "--data.positive", "no")  # fmt: skip
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    for stage, metric in (("test", "test_acc"), ("validate", "val_acc")):
        proc = run_cli(stage, "--ckpt_path", ckpt)
        assert "logreg:" not in proc.stderr and metric in proc.stdout, proc.stderr
    run_cli("predict", "--ckpt_path", ckpt, "--predictions", "p.csv")
    with (tmp_path / "p.csv").open() as handle:
        splits = [row["split"] for row in csv.DictReader(handle)]
    assert len(splits) == 120 and {"train", "val", "test"} == set(splits)


def test_predictions_repeat_the_input_labels_verbatim_and_tests_refuse_unseen_ones(tmp_path, run_cli):
    """Labels the model never saw are written as they are (not mapped onto its classes) and cannot be scored.

    The model's positive class is ``--data.positive``'s (kept in the checkpoint), and data of that one class is
    evaluated, with a line saying which metrics one class leaves undefined."""
    write_csv(tmp_path / "train.csv", ["a", "b", "label"], separable_rows(120))
    fit = run_cli("fit", "--data", "FileDataModule", "--data.path", "train.csv", "--trainer.max_epochs", "1",
                  "--data.positive", "no")  # fmt: skip
    assert "0 = 'yes', 1 = 'no'" in fit.stdout
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    saved = torch.load(ckpt, weights_only=True)
    assert saved["datamodule_hyper_parameters"]["positive"] == "no" and saved["FileDataModule"]["classes"] == [
        "yes", "no"
    ]  # fmt: skip
    renamed = [[a, b, {"no": "zebra", "yes": "Yes "}[label]] for a, b, label in separable_rows(30, seed=1)]
    write_csv(tmp_path / "new.csv", ["a", "b", "label"], renamed)
    new = run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "new.csv",
                  "--predictions", "out.csv")  # fmt: skip
    assert new.stderr.startswith("logreg: note: new.csv: 30 rows have labels the model was not trained on (")
    assert new.stderr.endswith("); they count as wrong in the accuracy\n") and "'zebra'" in new.stderr
    assert "'Yes '" in new.stderr and len(new.stderr.splitlines()) == 1  # 'Yes ' is not 'yes'
    with (tmp_path / "out.csv").open() as handle:
        out = list(csv.DictReader(handle))
    assert [row["label"] for row in out] == [row[2] for row in renamed]  # 'Yes ' keeps its case and its space
    assert {row["predicted_label"] for row in out} <= {"no", "yes"}
    test = run_cli("test", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "new.csv", check=False)
    assert test.returncode == 2 and "label 'Yes' is not one the model was trained on ('yes', 'no')" in test.stderr
    three = [[a, b, "maybe" if i % 3 == 2 else label] for i, (a, b, label) in enumerate(separable_rows(30, seed=2))]
    write_csv(tmp_path / "three.csv", ["a", "b", "label"], three)  # a third value: predicted, written, never right
    run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "three.csv",
            "--predictions", "three_out.csv")  # fmt: skip
    with (tmp_path / "three_out.csv").open() as handle:
        out = list(csv.DictReader(handle))
    assert [row["label"] for row in out] == [row[2] for row in three]
    correct = sum(row["label"] == row["predicted_label"] for row in out)  # 'maybe' rows are never right
    preview = run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "three.csv")
    assert preview.stderr == ("logreg: note: three.csv: 10 rows have labels the model was not trained on ('maybe'); "
                              "they count as wrong in the accuracy\n")  # fmt: skip
    assert f"accuracy    {correct / 30:.4f} ({correct} of 30 rows)" in preview.stdout
    (tmp_path / "arrays").mkdir()  # an x.npy directory coded 0/1 for 'maybe'/'no': 'maybe' is written, not 'yes'
    np.save(tmp_path / "arrays" / "x.npy", np.array([row[:2] for row in three], np.float32))
    np.save(tmp_path / "arrays" / "y.npy", np.array([row[2] == "no" for row in three], np.int8))
    meta = {"format": 1, "classes": ["maybe", "no"], "feature_names": ["a", "b"], "rows": 30}
    (tmp_path / "arrays" / "meta.json").write_text(json.dumps(meta))
    arrays = run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "arrays",
                     "--predictions", "arrays_out.csv")  # fmt: skip
    coded_maybe = sum(row[2] != "no" for row in three)
    assert f"note: arrays: {coded_maybe} rows have labels the model was not trained on ('maybe');" in arrays.stderr
    with (tmp_path / "arrays_out.csv").open() as handle:
        assert [row["label"] for row in csv.DictReader(handle)] == [
            "no" if row[2] == "no" else "maybe" for row in three
        ]
    test = run_cli("test", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "three.csv", check=False)
    assert (
        test.returncode == 2
        and "third label value 'yes' (labels must take two values; seen 'no', 'maybe')" in test.stderr
    )
    write_csv(tmp_path / "no.csv", ["a", "b", "label"], [row for row in separable_rows(80) if row[2] == "no"])
    one = run_cli("test", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "no.csv")
    assert one.stderr.strip().splitlines()[-1] == (
        "logreg: warning: no.csv: every label is 'no', the positive class: test_auroc is undefined without negative "
        "rows (ignore its value); accuracy, precision and recall are as usual"
    )
    assert "test_acc" in one.stdout and "test_recall" in one.stdout


def test_a_file_that_is_no_checkpoint_says_what_it_is_in_a_few_words(tmp_path):
    """A text file, a CSV, a truncated checkpoint or an .npz as --ckpt_path: one short line, not torch's own texts."""
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, tmp_path / "ok.ckpt")
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "ok.ckpt").read_bytes()[:2000])
    (tmp_path / "notes.txt").write_text("my notes\n")
    write_csv(tmp_path / "d.csv", ["a", "label"], [["1", "0"], ["2", "1"]])
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1)))
    (tmp_path / "bin.ckpt").write_bytes(bytes(range(8)))
    expected = {"notes.txt": "a text file", "d.csv": "a text file", "cut.ckpt": "a truncated or damaged zip file",
                "d.npz": "a zip file not from torch", "bin.ckpt": "it starts with b'\\x00\\x01\\x02\\x03', not as "
                "torch's zip file or pickle"}  # fmt: skip
    for name, problem in expected.items():
        with pytest.raises(ValueError) as info:
            load_model(tmp_path / name)
        assert str(info.value) == f"--ckpt_path {tmp_path / name}: not a checkpoint ({problem})"


def test_a_column_float32_rounds_to_one_value_is_named_in_a_warning(tmp_path, run_cli):
    """1.7e9 plus 0 to 40 differs in the file, but float32 (the rows' storage, spacing 128 there) holds one value:
    the fit could not use the column, in silence. A CSV's fit, a float64 .npz and ``logreg convert`` name it in one
    line; the column that float32 resolves, coarsely (3e7 plus the same noise), gets the other warning only."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 41, 200)
    assert len(np.unique(np.float32(1.7e9 + noise))) == 1 and len(np.unique(np.float32(3e7 + noise))) > 1
    x = np.column_stack([rng.standard_normal(200), 1.7e9 + noise, 3e7 + noise])
    y = (x[:, 0] + noise / 20 > 1).astype(int)
    rows = [f"{a!r},{b!r},{c!r},{label}" for (a, b, c), label in zip(x.tolist(), y.tolist(), strict=True)]
    (tmp_path / "d.csv").write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    for path in ("d.csv", "d.npz"):
        err = run_cli("fit", "--data.path", path, "--trainer.max_epochs", "1").stderr
        flagged = [line for line in err.splitlines() if "the values differ" in line]
        column = "b" if path == "d.csv" else "x1"
        assert flagged == [f"logreg: warning: {path}: {column}: the values differ, but as float32 (the rows' storage) "
                           "they are one value, so the fit cannot use the column; subtract an offset (e.g. their "
                           "mean) first"]  # fmt: skip
    converted = run_cli("convert", "d.csv", "out")
    assert converted.stderr.startswith("logreg: warning: d.csv: b: the values differ")
    assert converted.stderr.count("\n") == 1
    refit = run_cli("fit", "--data.path", "out", "--trainer.max_epochs", "1")
    assert "logreg: warning: out: b: the values differ" in refit.stderr
