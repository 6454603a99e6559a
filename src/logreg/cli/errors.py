"""What the ``logreg`` command counts as a user's mistake (told in one line, exit 2) and :class:`Stopped` (a run
ended by a signal), shared by :mod:`logreg.cli` and :mod:`logreg.cli.lightning` (so neither imports the other
for them)."""

from __future__ import annotations

import errno
import sys

from jsonargparse import ArgumentError


class Stopped(BaseException):
    """A run stopped by a signal, with the line to tell the user and the exit code (128 + the signal's number).

    A ``BaseException``, like ``KeyboardInterrupt``: code that catches ``Exception`` (jsonargparse's validation,
    say) must not turn a stop into an error message."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def one_line(err: BaseException) -> str:
    """The innermost user error that caused ``err``, as one line: its first line, or for a message that nests its
    reasons under headings (jsonargparse's), the headings down to the most specific reason, and the last line."""
    while isinstance(err.__cause__, USER_ERRORS):
        err = err.__cause__
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    if len(lines) == 1 or not lines[0].endswith(":"):
        return lines[0].strip()
    return " ".join(lines[i].strip(" -") for i in _headings_to_deepest_reason(lines))


def _headings_to_deepest_reason(lines: list[str]) -> list[int]:
    """Indices of the most deeply indented line (the first of them), the headings (``...:``) it sits under, and
    the last line (jsonargparse ends with the value given)."""

    def depth(i: int) -> int:
        return len(lines[i]) - len(lines[i].lstrip(" -"))

    reason = max(range(len(lines)), key=lambda i: (depth(i), -i))
    chain, level = [reason], depth(reason)
    for i in range(reason - 1, -1, -1):
        if lines[i].endswith(":") and depth(i) < level:
            chain.append(i)
            level = depth(i)
    return sorted({*chain, len(lines) - 1})


USER_ERRORS = (
    ArgumentError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def is_user_error(err: BaseException) -> bool:
    """A mistake in the input or a full or read-only disk: told in one line, never as a traceback."""
    return isinstance(err, user_errors()) or (isinstance(err, OSError) and err.errno in DISK_ERRORS)


DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the command line, a config or a file is wrong; Lightning's own checks of the
    Trainer's arguments and the environment raise ``MisconfigurationException`` (only once Lightning is loaded)."""
    if "lightning.fabric" not in sys.modules:
        return USER_ERRORS
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    return (*USER_ERRORS, MisconfigurationException)
