"""A user's mistake (one line, exit 2) and :class:`Stopped` (a run ended by a signal), for both CLI modules."""

from __future__ import annotations

import errno
import sys

from jsonargparse import ArgumentError


class Stopped(BaseException):
    """A run stopped by a signal: its line and exit code (128 + the signal's number). A ``BaseException``, so that
    code catching ``Exception`` (jsonargparse's validation) does not turn it into an error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def one_line(err: BaseException) -> str:
    """The innermost user error behind ``err`` in one line: its first, or for jsonargparse's nested reasons the
    headings down to the most deeply indented reason, and the last line (the value given)."""
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
    """A mistake in the input (Lightning's ``MisconfigurationException`` too, once loaded), or a full or read-only
    disk: told in one line, never as a traceback."""
    errors = USER_ERRORS
    if "lightning.fabric" in sys.modules:
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        errors = (*errors, MisconfigurationException)
    return isinstance(err, errors) or (isinstance(err, OSError) and err.errno in DISK_ERRORS)
