"""logreg.data.readers: read_table and convert on CSV, Parquet, .npz and x.npy directories, and their error messages."""

import bz2
import csv
import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logreg.data.readers import DataFileError, convert, map_labels, read_table
from logreg.writes import current_umask


def write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def numeric_csv(n=300, seed=0, labels=("no", "yes")):
    """A CSV text of n rows: features a, b (5 significant digits) and a text label; and its (features, labels)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) * [1.0, 50.0]
    y = (x[:, 0] + x[:, 1] / 50 > 0).astype(int)
    lines = ["a,b,label"] + [f"{a:.5g},{b:.5g},{labels[k]}" for (a, b), k in zip(x, y, strict=True)]
    return "\n".join(lines) + "\n", np.array([[float(f"{v:.5g}") for v in row] for row in x], np.float32), y


def message(call):
    with pytest.raises(ValueError) as info:
        call()
    assert isinstance(info.value, DataFileError)
    text = str(info.value)
    assert "\n" not in text
    return text


def assert_same(a, b):
    assert a.features.dtype == b.features.dtype == np.float32
    assert np.array_equal(np.asarray(a.features).view(np.uint32), np.asarray(b.features).view(np.uint32))
    assert (a.labels is None and b.labels is None) or np.array_equal(a.labels, b.labels)
    assert a.classes == b.classes and a.feature_names == b.feature_names


# --------------------------------------------------------------------------------------------- good files


def test_csv_with_text_labels(tmp_path):
    text, x, y = numeric_csv()
    table = read_table(write(tmp_path / "d.csv", text))
    assert table.features.flags.c_contiguous and np.array_equal(table.features, x)
    assert table.labels.dtype == np.float32 and table.labels.tolist() == y.tolist()
    assert table.classes == ["no", "yes"] and table.feature_names == ["a", "b"]


@pytest.mark.parametrize(
    ("labels", "classes", "codes"),
    [
        (["0.0", "1.0", "1"], ["0.0", "1.0"], [0, 1, 1]),  # class names are the file's first spellings
        (["1.0", "0", "1"], ["0", "1.0"], [1, 0, 1]),
        (["100000000", "100000001", "100000000"], ["100000000", "100000001"], [0, 1, 0]),
        (["100000000000000001", "1e17", "100000000000000000"], ["1e17", "100000000000000001"], [1, 0, 0]),
        (["yes", "no", " yes "], ["no", "yes"], [1, 0, 1]),
        (["True", "false", "true"], ["false", "True"], [1, 0, 1]),
        (["10", "9", "9"], ["9", "10"], [1, 0, 0]),
        (["true", "1", "0", "false"], ["0", "true"], [1, 1, 0, 0]),  # true and false are 1 and 0
        (["1", "true", "True", "1.0"], ["1"], [0, 0, 0, 0]),  # one class: valid to evaluate (training refuses)
        (["1_0", "10", "1_0"], ["10", "1_0"], [1, 0, 1]),  # plain decimal numbers only: 1_0 is text, not 10
        (["\u0661", "1", "1"], ["1", "\u0661"], [1, 0, 0]),  # ARABIC-INDIC DIGIT ONE is text too
    ],
)
def test_csv_labels_are_text_with_their_own_spelling(tmp_path, labels, classes, codes):
    rows = "".join(f"{i},{value}\n" for i, value in enumerate(labels))
    table = read_table(write(tmp_path / "d.csv", "a,label\n" + rows))
    assert table.classes == classes and table.labels.tolist() == codes


@pytest.mark.parametrize(
    ("values", "classes", "codes"),
    [
        (["1", "0", "1.0"], ["0", "1"], [1, 0, 1]),
        (["True", "false", "true"], ["false", "True"], [1, 0, 1]),
        (["cat", "dog", "cat"], ["cat", "dog"], [0, 1, 0]),
        (["10", "9", "9"], ["9", "10"], [1, 0, 0]),
        (["false", "0", "true"], ["false", "true"], [0, 0, 1]),
    ],
)
def test_map_labels(values, classes, codes):
    labels, names = map_labels(values, "f.csv")
    assert names == classes and labels.tolist() == codes and labels.dtype == np.float32


@pytest.mark.parametrize("labels", [["1", "true", "0"], ["false", "1", "0", "TRUE"], ["1", "1.0", "false"]])
def test_label_coding_does_not_depend_on_the_order_of_the_rows(labels):
    forward, _ = map_labels(labels, "f.csv")
    backward, _ = map_labels(labels[::-1], "f.csv")
    assert forward.tolist() == backward[::-1].tolist() == [float(v.lower() in ("1", "1.0", "true")) for v in labels]


def test_one_class_reads_in_every_format(tmp_path):
    """Labels of one class are data to evaluate or predict: read, coded 0, with that one class."""
    assert read_table(write(tmp_path / "d.csv", "a,label\n1,yes\n2, yes\n")).classes == ["yes"]
    pq.write_table(pa.table({"a": [1.0, 2.0], "label": [1, 1]}), tmp_path / "d.parquet")
    assert read_table(tmp_path / "d.parquet").classes == ["1"]
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1)), y=np.array([True, True]))
    table = read_table(tmp_path / "d.npz")
    assert table.classes == ["True"] and table.labels.tolist() == [0, 0]
    converted = convert(tmp_path / "d.csv", tmp_path / "out")
    assert converted.classes == ["yes"] and converted.labels.tolist() == [0, 0]
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["classes"] == ["yes"]


def test_arrays_without_rows_say_so(tmp_path):
    (tmp_path / "dir").mkdir()
    np.save(tmp_path / "dir" / "x.npy", np.zeros((0, 2), np.float32))
    np.save(tmp_path / "dir" / "y.npy", np.zeros(0, np.int8))
    expected = f"{tmp_path / 'dir' / 'x.npy'}: no data rows (array 'x' has shape (0, 2))"
    assert message(lambda: read_table(tmp_path / "dir")) == expected
    np.savez(tmp_path / "d.npz", x=np.zeros((0, 3)))
    assert message(lambda: read_table(tmp_path / "d.npz")).endswith("d.npz: no data rows (array 'x' has shape (0, 3))")
    np.savez(tmp_path / "e.npz", x=np.zeros((2, 0)))  # no columns: still the shape's message
    assert message(lambda: read_table(tmp_path / "e.npz")).endswith(
        "array 'x' must have shape (rows, features), got (2, 0)"
    )


def test_a_third_label_in_npz_and_npy_names_its_row(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 1)), y=np.array([5, 7, 5, 9]))
    assert message(lambda: read_table(tmp_path / "d.npz")) == (
        f"{tmp_path / 'd.npz'}, row 4, column 'y': third label value '9' (labels must take two values; seen '5', '7')"
    )
    (tmp_path / "dir").mkdir()
    np.save(tmp_path / "dir" / "x.npy", np.zeros((3, 1), np.float32))
    np.save(tmp_path / "dir" / "y.npy", np.array(["b", "c", "a"]))  # rows in order: 'a' comes third
    assert message(lambda: read_table(tmp_path / "dir")).endswith("row 3, column 'y': third label value 'a' (labels "
                                                                  "must take two values; seen 'b', 'c')")  # fmt: skip


def test_npz_text_labels_follow_the_csv_rules(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 1)), y=np.array(["1", "1.0", "false"]))
    table = read_table(tmp_path / "d.npz")
    assert table.classes == ["false", "1"] and table.labels.tolist() == [1, 1, 0]


def test_map_labels_names_the_given_row():
    assert message(lambda: map_labels(["a", "b", "c"], "f.csv", rows=[7, 9, 12])) == (
        "f.csv, row 12, column 'label': third label value 'c' (labels must take two values; seen 'a', 'b')"
    )


def test_csv_without_label_column_reads_for_predict(tmp_path):
    table = read_table(write(tmp_path / "d.csv", " a , b \n1,2\n3,4\n"), label="y")
    assert table.labels is None and table.classes == ["0", "1"] and table.feature_names == ["a", "b"]
    assert table.features.tolist() == [[1, 2], [3, 4]]


def test_csv_spaces_crlf_bom_and_other_label_name(tmp_path):
    table = read_table(write(tmp_path / "d.csv", "\ufeffx, y ,target\r\n 1.5 ,\t2,b\r\n\r\n3,4e1,a\r\n"), "target")
    assert table.features.tolist() == [[1.5, 2], [3, 40]] and table.labels.tolist() == [1, 0]
    assert table.classes == ["a", "b"] and table.feature_names == ["x", "y"]


def test_parquet_reads_as_the_csv_does(tmp_path):
    text, _, _ = numeric_csv()
    from_csv = read_table(write(tmp_path / "d.csv", text))
    columns = {"a": from_csv.features[:, 0].astype(np.float64), "b": from_csv.features[:, 1].astype(np.float64),
               "label": np.array(from_csv.classes)[from_csv.labels.astype(int)]}  # fmt: skip
    pq.write_table(pa.table(columns), tmp_path / "d.parquet")
    assert_same(read_table(tmp_path / "d.parquet", batch_rows=64), from_csv)


def test_parquet_integer_features_and_labels(tmp_path):
    pq.write_table(pa.table({"label": pa.array([1, 0, 1], pa.int8()), "n": [1, 2, 3], "f": [True, False, True]}),
                   tmp_path / "d.pq")  # fmt: skip
    table = read_table(tmp_path / "d.pq")
    assert table.features.tolist() == [[1, 1], [2, 0], [3, 1]] and table.feature_names == ["n", "f"]
    assert table.labels.tolist() == [1, 0, 1] and table.classes == ["0", "1"]


def test_rows_longer_than_a_block_are_read_with_larger_blocks(tmp_path):
    header = ",".join(f"c{j}" for j in range(40)) + ",label\n"
    rows = "".join(",".join(f"{i}.{j}" for j in range(40)) + f",{i % 2}\n" for i in range(50))
    table = read_table(write(tmp_path / "wide.csv", header + rows), block_size=64)
    assert table.features.shape == (50, 40) and table.features[7, 3] == np.float32(7.3)


def test_npz(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 3))
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    table = read_table(tmp_path / "d.npz")
    assert table.features.dtype == np.float32 and np.array_equal(table.features, x.astype(np.float32))
    assert table.classes == ["0", "1"] and table.feature_names == ["x0", "x1", "x2"]
    assert table.labels.tolist() == (x[:, 0] > 0).tolist()


def test_npy_directory_without_meta(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([3, 5, 3, 5, 5, 3]))
    table = read_table(tmp_path)
    assert isinstance(table.features, np.memmap) and not table.features.flags.writeable
    assert np.array_equal(table.features, x) and table.labels.tolist() == [0, 1, 0, 1, 1, 0]
    assert table.classes == ["3", "5"] and table.feature_names == ["x0", "x1"]


# ------------------------------------------------------------------------------------------------ convert


def test_convert_csv_equals_read_table(tmp_path):
    text, _, _ = numeric_csv(1000, labels=("yes", "no"))  # "no" is class 0 although "yes" comes first
    source = write(tmp_path / "d.csv", text)
    out = tmp_path / "out"
    converted = convert(source, out, block_size=1024)
    assert_same(converted, read_table(source))
    assert isinstance(converted.features, np.memmap) and converted.classes == ["no", "yes"]
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "x.npy", "y.npy"]
    assert np.load(out / "y.npy").dtype == np.int8
    meta = json.loads((out / "meta.json").read_text())
    assert meta == {"format": 1, "source": str(source), "label": "label", "classes": ["no", "yes"],
                    "feature_names": ["a", "b"], "rows": 1000, "flattened": []}  # fmt: skip
    assert_same(read_table(out), converted)


def test_convert_parquet_equals_read_table(tmp_path):
    rng = np.random.default_rng(1)
    source = tmp_path / "d.parquet"
    pq.write_table(pa.table({"u": rng.normal(size=500), "label": rng.choice(["b", "a"], 500), "v": rng.random(500)}),
                   source, row_group_size=100)  # fmt: skip
    converted = convert(source, tmp_path / "out", batch_rows=64)
    assert_same(converted, read_table(source))
    assert converted.feature_names == ["u", "v"] and converted.classes == ["a", "b"]


def test_convert_without_labels_writes_no_y(tmp_path):
    out = tmp_path / "out"
    table = convert(write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n"), out, label=None)
    assert table.labels is None and table.classes == ["0", "1"] and table.feature_names == ["a", "b"]
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "x.npy"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~current_umask())  # a new directory, not mkdtemp's mode


def test_convert_refuses_a_missing_label_column(tmp_path):
    """Only ``label=None`` (``--unlabelled true``) converts data without labels: a misspelt name is an error."""
    source = write(tmp_path / "d.csv", "a,b,label\n1,2,0\n3,4,1\n")
    assert message(lambda: convert(source, tmp_path / "out", label="lable")) == (
        f"{source}: no label column 'lable' (columns: 'a', 'b', 'label'); name the label column (--label NAME), "
        "or convert data without labels with --unlabelled true"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_convert_into_an_empty_directory_writes_into_it(tmp_path):
    """An existing empty directory (``logreg convert SRC .``: the shell's own) is written into, never replaced."""
    (tmp_path / "out").mkdir(mode=0o750)
    before = (tmp_path / "out").stat()
    assert convert(write(tmp_path / "d.csv", "a,label\n1,0\n2,1\n"), tmp_path / "out").features.shape == (2, 1)
    after = (tmp_path / "out").stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["meta.json", "x.npy", "y.npy"]


def test_convert_refuses_an_existing_directory_before_reading(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    source = write(tmp_path / "bad.csv", "a,label\nx,0\n")
    assert message(lambda: convert(source, out)) == f"{out}: already exists; choose a new directory"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_failing_convert_leaves_nothing_and_numbers_rows_across_batches(tmp_path):
    text, _, _ = numeric_csv(2000)
    lines = text.splitlines()
    lines[1500] = "\n1,oops,no"
    source = write(tmp_path / "d.csv", "\n".join(lines) + "\n")  # a blank line before line 1501 makes it 1502
    expected = f"{source}, row 1502, column 'b': not a number: 'oops'"
    assert message(lambda: convert(source, tmp_path / "out", block_size=2048)) == expected
    assert message(lambda: read_table(source, block_size=2048)) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_third_label_in_a_late_batch(tmp_path):
    text, _, _ = numeric_csv(2000)
    source = write(tmp_path / "d.csv", text.rstrip("\n").rsplit("\n", 1)[0] + "\n1,2,maybe\n")
    expected = f"{source}, row 2001, column 'label': third label value 'maybe' (labels must take two values; seen "
    assert message(lambda: convert(source, tmp_path / "out", block_size=2048)).startswith(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_parquet_rows_are_numbered_across_batches(tmp_path):
    values = np.arange(300, dtype=np.float64)
    values[149] = np.inf
    source = parquet(tmp_path, a=values, label=np.arange(300) % 2)
    expected = f"{source}, row 150, column 'a': 'inf' is not a finite number"
    assert message(lambda: convert(source, tmp_path / "out", batch_rows=64)) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet"]


def test_convert_refuses_a_file_and_a_missing_parent(tmp_path):
    source = write(tmp_path / "d.csv", "a,label\n1,0\n2,1\n")
    assert message(lambda: convert(source, source)) == f"{source}: already exists; choose a new directory"
    assert "no is not an existing directory" in message(lambda: convert(source, tmp_path / "no" / "out"))


def test_a_feature_problem_is_reported_before_an_earlier_label_problem(tmp_path):
    source = write(tmp_path / "d.csv", "a,label\n1,0\n2,1\n3,2\n" + "4,1\n" * 200 + "x,0\n")
    expected = f"{source}, row 205, column 'a': not a number: 'x'"
    assert message(lambda: read_table(source, block_size=256)) == expected
    assert message(lambda: convert(source, tmp_path / "out", block_size=256)) == expected


# ---------------------------------------------------------------------------------------------- bad files

BAD_CSV = {
    "empty file": ("", ": file is empty (expected a header row and data rows)"),
    "blank lines only": ("\n\n", ": file is empty (expected a header row and data rows)"),
    "header only": ("a,b,label\n", ": header only, no data rows"),
    "non-numeric cell": ("a,b,label\n1,2,0\n3,oops,1\n", ", row 3, column 'b': not a number: 'oops'"),
    "empty cell": ("a,b,label\n1,2,0\n3,,1\n", ", row 3, column 'b': not a number: ''"),
    "nan": ("a,b,label\n1,2,0\nnan,4,1\n", ", row 3, column 'a': 'nan' is not a finite number"),
    "NaN": ("a,b,label\n1,2,0\n3, NaN ,1\n", ", row 3, column 'b': 'NaN' is not a finite number"),
    "inf": ("a,b,label\n1,2,0\n3,-inf,1\n", ", row 3, column 'b': '-inf' is not a finite number"),
    "float32 overflow": ("a,b,label\n1,2,0\n3,1e39,1\n", ", row 3, column 'b': '1e39' is not a finite float32 number"),
    "first of two problems": ("a,b,label\n1,2,0\nx,nan,1\n4,y,0\n", ", row 3, column 'a': not a number: 'x'"),
    "blank lines count": ("a,label\n1,0\n\n2,1\n#3,1\n", ", row 5, column 'a': not a number: '#3'"),
    "old mac line ends": ("a,label\r1,0\r\r2,1\rz,1\r", ", row 5, column 'a': not a number: 'z'"),
    "third label": ("a,b,label\n1,2,0\n3,4,1\n5,6,2\n",
                    ", row 4, column 'label': third label value '2' (labels must take two values; seen '0', '1')"),
    "semicolons": ("a;b;label\n1;2;0\n", ": the header 'a;b;label' is one column: values must be separated by commas, "
                   "and this file separates them by semicolons (save it as comma-separated CSV)"),
    "tabs": ("a\tb\tlabel\n1\t2\t0\n", ": the header 'a\\tb\\tlabel' is one column: values must be separated by "
             "commas, and this file separates them by tabs (save it as comma-separated CSV)"),
    "nan label": ("a,label\n1,0\n2,nan\n", ", row 3, column 'label': label 'nan' is not a finite value"),
    "empty label": ("a,label\n1,0\n2,\n3,1\n", ", row 3, column 'label': missing label (empty cell)"),
    "header without line end": ("a,b,label", ": header only, no data rows"),
    "long cell": ("a,label\n1,0\n" + "9" * 50 + "x,1\n",
                  ", row 3, column 'a': not a number: '" + "9" * 40 + "'... (51 characters)"),
    "label column missing": ("a,y\n1,no\n2,yes\n", ", row 2, column 'y': not a number: 'no' "
                                                   "(no column 'label' holds the labels: is this it?)"),
    "short row": ("a,b,label\n1,2,0\n3,4\n", ", row 3: 2 columns, but the header has 3"),
    "long row": ("a,b,label\n1,2,0\n\n3,4,1,5\n", ", row 4: 4 columns, but the header has 3"),
    "no feature": ("label\n0\n1\n", ": no feature columns besides the label column 'label'"),
    "duplicate column": ("a,a,label\n1,2,0\n", ": column name 'a' appears twice in the header"),
    "byte order mark only": (b"\xef\xbb\xbf\n", ": file is empty (expected a header row and data rows)"),
    "binary": (b"\x00\xff\xfe\x00garbage", ": not a text CSV file (expected UTF-8; NUL byte at byte 0)"),
    "latin-1": (b"a,label\n1,\xe9\n", ": not a text CSV file (expected UTF-8; invalid continuation byte at byte 10)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_is_one_line_naming_file_row_and_column(tmp_path, case):
    text, expected = BAD_CSV[case]
    path = write(tmp_path / "bad.csv", text)
    assert message(lambda: read_table(path)) == f"{path}{expected}"


OPEN_QUOTE = ": a quoted value opens here and is never closed"
OPEN_QUOTES = {
    "in a feature": ('a,b,label\n1,2,0\n3,"4,1\n5,6,0\n7,8,1\n', ", row 3, column 'b'"),
    "in the first column": ('a,b,label\n1,2,0\n"3,4,1\n5,6,0\n', ", row 3, column 'a'"),
    "in a label": ('a,b,label\n1,2,0\n3,4,"1\n5,6,0\n7,8,1\n', ", row 3, column 'label'"),
    "in the last row": ('a,b,label\n1,2,0\n3,4,1\n5,"6,0\n', ", row 4, column 'b'"),
    "in the last row's label": ('a,b,label\n1,2,0\n3,4,1\n5,6,"0\n\n', ", row 4, column 'label'"),
    "in the header": ('a,"b,label\n1,2,0\n3,4,1\n', ", row 1, column 2"),
    "after values over lines": ('a,b,label\n"1",2,"0\n"\n\n3,"4,1\n5,6,0\n', ", row 5, column 'b'"),
    "with quotes inside": ('a,b,label\n1,2,0\n3,4,"x""\ny""\n5,6,0\n', ", row 3, column 'label'"),
    "in a row too long": ('a,b,label\n1,2,0\n3,"4,1\n' + "5,6,0\n" * 200, ", row 3, column 'b'"),  # > 64 bytes
    "old mac line ends": ('a,b,label\r1,2,0\r\r3,"4,1\r5,6,0\r', ", row 4, column 'b'"),
    "over csv's field limit": ('a,b,label\n1,2,0\n3,"4,1\n' + "5,6,0\n" * 30000, ", row 3, column 'b'"),  # > 128 KiB
}


@pytest.mark.parametrize("case", sorted(OPEN_QUOTES))
def test_a_quote_never_closed_is_reported_where_it_opens(tmp_path, case):
    text, where = OPEN_QUOTES[case]
    path = write(tmp_path / "bad.csv", text)
    limit = csv.field_size_limit()
    assert message(lambda: read_table(path)) == f"{path}{where}{OPEN_QUOTE}"
    assert csv.field_size_limit() == limit  # raised for the scan only: the setting is process-wide
    assert message(lambda: convert(path, tmp_path / "out", block_size=64)) == f"{path}{where}{OPEN_QUOTE}"
    assert message(lambda: read_table(path, block_size=64)) == f"{path}{where}{OPEN_QUOTE}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_quoted_values_over_lines_are_read(tmp_path):
    text = '"a","b","label"\r\n"1",2,"x\r\n"\r\n3,"4",y\n5,"""6""",x\n7,8,"y\n\n"\n'
    bad_cell = message(lambda: read_table(write(tmp_path / "d.csv", text)))  # every quote closes: not the error
    assert bad_cell.endswith(", column 'b': not a number: '\"6\"'")
    table = read_table(write(tmp_path / "d.csv", text.replace('"""6"""', "6")))
    assert table.features.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]] and table.labels.tolist() == [0, 1, 0, 1]
    assert table.classes == ["x", "y"] and table.label_text.to_pylist() == ["x\r\n", "y", "x", "y\n\n"]


def test_bad_utf8_past_the_sniffed_start_is_found(tmp_path):
    text, _, _ = numeric_csv(5000)
    path = write(tmp_path / "d.csv", text.encode() + b"1,2,caf\xe9\n")
    assert message(lambda: read_table(path)).startswith(f"{path}: not a text CSV file (expected UTF-8; invalid")
    path = write(tmp_path / "e.csv", text.encode() + b"\xff,2,no\n")
    assert message(lambda: read_table(path)) == f"{path}, row 5002, column 'a': not a number: '\\\\xff'"


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv: file not found"):
        read_table(tmp_path / "nope.csv")


def parquet(tmp_path, **columns):
    pq.write_table(pa.table(columns), tmp_path / "bad.parquet")
    return tmp_path / "bad.parquet"


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"a": [1.0, None], "label": [0, 1]}, "row 2, column 'a': missing value (null)"),
        ({"a": [1.0, float("nan")], "label": [0, 1]}, "row 2, column 'a': 'nan' is not a finite number"),
        ({"a": [1e39, 1.0], "label": [0, 1]}, "row 1, column 'a': '1e+39' is not a finite float32 number"),
        ({"a": ["1", "2"], "label": [0, 1]}, "column 'a': type string is not numeric"),
        ({"a": [1.0, 2.0], "label": [0, None]}, "row 2, column 'label': missing label (null)"),
        (
            {"a": [1.0, 2.0, None], "b": [1.0, float("inf"), 3.0], "label": [0, 1, 0]},
            "row 2, column 'b': 'inf' is not a finite number",
        ),  # the first row with a problem, whatever its column
    ],
)
def test_bad_parquet(tmp_path, columns, expected):
    path = parquet(tmp_path, **columns)
    assert message(lambda: read_table(path)) == f"{path}, {expected}"


@pytest.mark.parametrize(
    ("name", "compress", "cause"),
    [
        ("d.csv.gz", gzip.compress, "it is gzip-compressed; decompress it first (gunzip)"),
        ("d.csv", bz2.compress, "it is bzip2-compressed; decompress it first (bunzip2)"),
        ("d.csv", lambda data: b"PAR1" + data, "it is a Parquet file; give it the extension .parquet"),
        ("d.parquet", gzip.compress, "it is gzip-compressed"),
    ],
)
def test_a_file_of_another_format_is_named(tmp_path, name, compress, cause):
    path = write(tmp_path / name, compress(b"a,label\n1,0\n2,1\n"))
    assert cause in message(lambda: read_table(path))
    assert cause in message(lambda: convert(path, tmp_path / "out"))


def test_not_a_parquet_file(tmp_path):
    path = write(tmp_path / "d.parquet", "a,label\n1,0\n")
    assert message(lambda: read_table(path)).startswith(f"{path}: not a readable Parquet file (")


def test_bad_npz_and_npy(tmp_path):
    np.savez(tmp_path / "d.npz", z=np.zeros(3))
    assert message(lambda: read_table(tmp_path / "d.npz")) == f"{tmp_path / 'd.npz'}: no array named 'x' (found: z)"
    np.savez(tmp_path / "e.npz", x=np.array([[1.0, 2.0], [3.0, 1e39]]))
    assert message(lambda: read_table(tmp_path / "e.npz")).endswith(
        "x[1, 1] (row 2, column 2) (1e+39) is not a finite float32 number"
    )
    (tmp_path / "dir").mkdir()
    assert "directory has no x.npy" in message(lambda: read_table(tmp_path / "dir"))
    np.save(tmp_path / "dir" / "x.npy", np.zeros((4, 2), np.float32))
    np.save(tmp_path / "dir" / "y.npy", np.zeros(3, np.int8))
    assert "must have shape (4,) to match the features" in message(lambda: read_table(tmp_path / "dir"))


def test_meta_json_must_match_x(tmp_path):
    out = tmp_path / "out"
    convert(write(tmp_path / "d.csv", "a,b,label\n1,2,no\n3,4,yes\n"), out)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "feature_names": ["a"]}))
    assert "'feature_names' must be 2 strings to match x.npy" in message(lambda: read_table(out))


def test_parquet_integers_beyond_float64_precision_are_read_rounded(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"a": pa.array([2**62, 1], pa.int64()), "label": [0, 1]}), path)
    assert read_table(path).features[:, 0].tolist() == [float(2**62), 1.0]


def test_convert_writes_where_the_path_really_points_and_refuses_dangling_links(tmp_path):
    source = write(tmp_path / "d.csv", "a,label\n1,no\n2,yes\n")
    (tmp_path / "e").mkdir()
    convert(source, tmp_path / "e" / ".." / "e")  # written into the empty directory, nothing left beside it
    (tmp_path / "f").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "f")
    convert(source, tmp_path / "link")
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["meta.json", "x.npy", "y.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "e", "f", "link"]
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["meta.json", "x.npy", "y.npy"]
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert "a symbolic link to" in message(lambda: convert(source, tmp_path / "dangling"))
    assert not (tmp_path / "nowhere").exists()


def test_non_finite_labels_in_npz_and_npy_are_refused(tmp_path):
    x = np.zeros((3, 1), np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0.0, np.nan, 1.0]))
    assert message(lambda: read_table(tmp_path / "d.npz")) == f"{tmp_path / 'd.npz'}: y[1] (row 2) is nan, not a label"
    (tmp_path / "dir").mkdir()
    np.save(tmp_path / "dir" / "x.npy", x)
    np.save(tmp_path / "dir" / "y.npy", np.array([0.0, 1.0, np.inf]))
    assert message(lambda: read_table(tmp_path / "dir")).endswith("y[2] (row 3) is inf, not a label")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"classes": ["yes", "yes"]}, "'classes' must name two different classes"),
        ({"classes": ["1", "1.0"]}, "'classes' must name two different classes"),
        ({"feature_names": ["a", "a"]}, "'feature_names' names a column twice"),
        ({"rows": "2"}, "'rows' is '2', but x.npy has 2 rows"),
    ],
)
def test_meta_json_that_lies_is_refused(tmp_path, change, words):
    out = tmp_path / "out"
    convert(write(tmp_path / "d.csv", "a,b,label\n1,2,no\n3,4,yes\n"), out)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, **change}))
    assert words in message(lambda: read_table(out))


def test_a_y_npy_that_is_no_file_is_refused_not_taken_as_unlabelled(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    (tmp_path / "y.npy").mkdir()
    assert f"{tmp_path / 'y.npy'}: not a readable .npy array" in message(lambda: read_table(tmp_path))
