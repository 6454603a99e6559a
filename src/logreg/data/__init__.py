"""The data: rows and labels in, splits and batches out.

:mod:`~logreg.data.indexed` holds the data-module contract (:class:`~logreg.data.indexed.IndexedDataModule`: the
seeded split, whole-batch gathers, the streamed full-batch chunks) that the model, the report and the CLI read;
:mod:`~logreg.data.threshold`, :mod:`~logreg.data.files` and :mod:`~logreg.data.arrays` are its three data sources
(the tutorial's data, a CSV/Parquet/.npy file, in-memory arrays), and :mod:`~logreg.data.readers` reads and
converts files. This package imports nothing itself, so that ``logreg convert`` (the readers) loads without torch;
the data modules are importable from ``logreg`` itself (``from logreg import FileDataModule``).
"""
