"""A user's mistake (one line, exit 2) and :class:`Stopped` (a run ended by a signal), for both CLI modules."""

from __future__ import annotations

import errno
import re
import sys
from collections.abc import Iterator, Sequence

from jsonargparse import ArgumentError


class Stopped(BaseException):
    """A run stopped by a signal: its line and exit code (128 + the signal's number). A ``BaseException``, so that
    code catching ``Exception`` (jsonargparse's validation) does not turn it into an error."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def one_line(err: BaseException, words: Sequence[str] = ()) -> str:
    """The innermost user error behind ``err`` in one line: its first, or for jsonargparse's nested reasons the
    headings down to the most deeply indented reason (:func:`flag_line`), and the last line (the value given).
    Lightning's errors get the flag among ``words`` (the command line) that they name, or whose value they name; the
    model's the ``--model`` flag of the parameter they begin with."""
    while isinstance(err.__cause__, USER_ERRORS):
        err = err.__cause__
    lines = [line.rstrip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    if len(lines) == 1 or not lines[0].endswith(":"):
        lightning = type(err).__name__ == "MisconfigurationException"
        named = trainer_flag(lines[0], words) if lightning else model_flag(lines[0], words)
        return (f"{named}: " if named else "") + lines[0].strip()
    depth = [len(line) - len(line.lstrip(" -")) for line in lines]
    reason = max(range(len(lines)), key=lambda i: (depth[i], -i))
    chain, level = [reason], depth[reason]
    for i in range(reason - 1, -1, -1):
        if lines[i].endswith(":") and depth[i] < level:
            chain.append(i)
            level = depth[i]
    parts = [lines[i].strip(" -") for i in sorted({*chain, len(lines) - 1})]
    keys = [found[1] for part in parts if (found := re.fullmatch(r'Parser key "(.+)":', part))]
    reasons = [line.strip(" -") for line, at in zip(lines, depth, strict=True) if at == depth[reason]]
    return flag_line("--" + ".".join(keys), reasons, parts) if keys else " ".join(parts)


def trainer_flag(message: str, words: Sequence[str]) -> str | None:
    """``--trainer.X value`` from the command line ``words`` whose name or value Lightning's ``message`` names."""
    for _, flag, value in flag_values(words):
        name = flag.removeprefix("--trainer.")
        if name != flag and re.search(rf"\b({re.escape(name)}|{re.escape(value or name)})\b", message):
            return f"{flag} {value}"
    return None


def model_flag(message: str, words: Sequence[str]) -> str | None:
    """``--model.X value`` from the command line ``words`` when the model's ``message`` begins with ``X``."""
    for _, flag, value in flag_values(words):
        if flag.startswith("--model.") and re.match(rf"{re.escape(flag[8:])}\b", message):
            return f"{flag} {value}"
    return None


EXPECTED = re.compile(r"Expected a (<class '(\w+)'>|typing.Literal\[(.*)\])(?:\. Got value: (.*))?")  # jsonargparse's
KINDS = {"int": "an integer", "float": "a finite number", "bool": "true or false", "str": "text", "NoneType": "null"}


def flag_line(flag: str, reasons: list[str], parts: list[str]) -> str:
    """jsonargparse's reasons as ``--flag value: problem``, without its internals (types, NestedArg, Namespace)."""
    given = re.fullmatch(r"Given value: (?:NestedArg\(key='(.*)', val='(.*)'\)|(.*))", parts[-1])
    key, value, text = given.groups() if given else (None, None, None)
    flag += f".{key}" if key and not flag.endswith(f".{key}") else ""
    value = value or (text if text and not text.startswith("Namespace(") else None)
    kinds = [EXPECTED.fullmatch(reason) for reason in reasons]
    if all(kinds):
        words = [KINDS.get(kind[2], kind[1]) if kind[2] else f"one of {kind[3]}" for kind in kinds]
        return f"{flag} {kinds[0][4] or value}: expected {' or '.join(words)}"
    if required := re.fullmatch(r"the following arguments are required: (.+)", reasons[0]):
        owner = re.search(r"class_path '([^']+)'", " ".join(parts))
        return f"{flag}.{required[1]}: required by {owner[1] if owner else flag}"
    return f"{flag} {value}: {reasons[0]}" if value else f"{flag}: {reasons[0]}"


def flag_values(args: Sequence[str]) -> Iterator[tuple[int, str, str]]:
    """Each flag in ``args`` with its index and its value (``--flag=value`` or ``--flag value``; "" at the end)."""
    for i, word in enumerate(args):
        flag, equals, value = str(word).partition("=")
        if flag.startswith("-"):
            yield i, flag, value if equals or i + 1 == len(args) else str(args[i + 1])


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
