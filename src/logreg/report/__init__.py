"""The report of a finished run: :mod:`~logreg.report.summary` (what a command prints when it ends),
:mod:`~logreg.report.coefficients` (the coefficient table, with standard errors and intervals),
:mod:`~logreg.report.plots` (the figures, drawn with matplotlib) and :mod:`~logreg.report.figures` (the callback
that logs them to TensorBoard)."""
