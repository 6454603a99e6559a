"""The data: :mod:`~logreg.data.indexed`, the data-module contract (split, batches, streamed chunks); its sources
:mod:`~logreg.data.threshold` (the tutorial's), :mod:`~logreg.data.files` and :mod:`~logreg.data.arrays`; and
:mod:`~logreg.data.readers`, which reads and converts files. It imports nothing, so ``logreg convert`` needs no torch.
"""
