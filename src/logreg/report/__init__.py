"""The report of a finished run: the summary a command prints, the coefficient table, the figures and their callback."""
