"""What the ``logreg`` command counts as a user's mistake (told in one line, exit 2) and :class:`Stopped` (a run
ended by a signal), shared by :mod:`logreg.cli` and :mod:`logreg.cli.lightning` (so neither imports the other)."""

from __future__ import annotations

import errno
import sys

from jsonargparse import ArgumentError


class Stopped(BaseException):
    """A run stopped by a signal, with the line to tell and the exit code (128 + the signal's number). A
    ``BaseException``: code catching ``Exception`` (jsonargparse's validation) must not turn it into an error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def one_line(err: BaseException) -> str:
    """The innermost user error that caused ``err``, as one line: its first line or, for a message that nests its
    reasons under headings (jsonargparse's), the headings down to the most deeply indented reason and the last line
    (jsonargparse ends with the value given)."""
    while isinstance(err.__cause__, USER_ERRORS):
        err = err.__cause__
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    if len(lines) == 1 or not lines[0].endswith(":"):
        return lines[0].strip()
    depth = [len(line) - len(line.lstrip(" -")) for line in lines]
    reason = max(range(len(lines)), key=lambda i: (depth[i], -i))
    chain, level = [reason], depth[reason]
    for i in range(reason - 1, -1, -1):
        if lines[i].endswith(":") and depth[i] < level:
            chain.append(i)
            level = depth[i]
    return " ".join(lines[i].strip(" -") for i in sorted({*chain, len(lines) - 1}))


USER_ERRORS = (ArgumentError, ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
               NotADirectoryError)  # fmt: skip
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def is_user_error(err: BaseException) -> bool:
    """A mistake in the input, or a full or read-only disk: told in one line, never as a traceback. Lightning's
    checks of the Trainer's arguments raise ``MisconfigurationException`` (known once Lightning is loaded)."""
    errors = USER_ERRORS
    if "lightning.fabric" in sys.modules:
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        errors = (*errors, MisconfigurationException)
    return isinstance(err, errors) or (isinstance(err, OSError) and err.errno in DISK_ERRORS)
