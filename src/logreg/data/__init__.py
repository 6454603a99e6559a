"""The data-module contract (:mod:`~logreg.data.indexed`), its sources (threshold, files, arrays) and the readers
of files; it imports nothing, so that ``logreg convert`` needs no torch."""
