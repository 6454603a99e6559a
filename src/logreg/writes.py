"""The one way logreg writes a file: whole or not at all (a temporary file renamed into place), through links (the
target is written), and in place into devices, pipes and the command's redirected standard output."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process's umask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(path: str | Path, label: str, overwrite: bool = False) -> None:
    """Fail, in one line starting with ``label`` (``--output model.onnx``), before any work if ``path`` cannot or must
    not be written (a directory, in a missing or read-only one, an existing file without ``overwrite``, a socket)."""
    if str(path).endswith(("/", os.sep)):
        raise IsADirectoryError(f"{label}: ends with '/', which names a directory; give a file path")
    node = _node(path)
    if node is not None and stat.S_ISDIR(node.st_mode):
        raise IsADirectoryError(f"{label}: is a directory, expected a file path")
    if node is not None and not stat.S_ISREG(node.st_mode):
        if not (stat.S_ISCHR(node.st_mode) or stat.S_ISFIFO(node.st_mode)):
            raise ValueError(f"{label}: not a regular file, a character device or a pipe; give a file path")
        return  # written in place: nothing is replaced, so --overwrite has nothing to guard
    if node is not None and not overwrite and not is_stdout(path):
        raise FileExistsError(f"{label}: file exists; pass --overwrite true to replace it")
    parent = Path(os.path.realpath(path)).parent
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"{label}: {Path(path).parent} is not a directory")
    if not parent.is_dir():
        raise FileNotFoundError(f"{label}: directory {Path(path).parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{label}: directory {Path(path).parent} is not writable")


def is_stdout(path: str | Path) -> bool:
    """Whether ``path`` is this process's standard output (then a command's own messages belong on stderr)."""
    node = _node(path)
    try:
        out = os.fstat(1)
    except OSError:
        return False
    return node is not None and (node.st_dev, node.st_ino) == (out.st_dev, out.st_ino)


class AtomicWriter:
    """An open file for ``path`` that :meth:`commit` puts in place and :meth:`discard` leaves unwritten; as a context
    manager, committed when its block ends without an exception. Write errors become one ``ValueError``."""

    def __init__(self, path: str | Path, label: str, binary: bool = False) -> None:
        self.label = label
        self.temp: Path | None = None
        self.target = Path(os.path.realpath(path))
        mode = "wb" if binary else "w"
        text = {} if binary else {"newline": "", "encoding": "utf-8"}
        node = _node(path)
        try:
            if is_stdout(path):
                fd = os.dup(1)
            elif node is not None and not stat.S_ISREG(node.st_mode):  # a device or pipe: written in place
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # (as open(path, "w"))
            else:
                fd, temp = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".tmp")
                self.temp = Path(temp)
            self.handle: IO[Any] = os.fdopen(fd, mode, **text)  # closed by commit or discard
        except OSError as err:
            raise self.error(err) from None

    def commit(self) -> None:
        """Flush and close; a temporary file takes the target's place."""
        try:
            self.handle.close()
            if self.temp is not None:
                # mkstemp makes the file private: give it the replaced file's mode, or the umask's for a new one
                mode = self.target.stat().st_mode & 0o777 if self.target.exists() else 0o666 & ~current_umask()
                os.chmod(self.temp, mode)
                os.replace(self.temp, self.target)
                self.temp = None
        except OSError as err:
            self.discard()
            raise self.error(err) from None

    def discard(self) -> None:
        """Close without putting anything in place (data already sent to a device or pipe stays sent)."""
        with contextlib.suppress(OSError):  # closing flushes, which fails again on a full disk
            self.handle.close()
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None

    def error(self, err: OSError) -> ValueError:
        return ValueError(f"{self.label}: cannot write ({err.strerror or err})")

    def __enter__(self) -> IO[Any]:
        return self.handle

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, traceback: Any) -> None:
        if kind is None:
            return self.commit()
        self.discard()
        if isinstance(err, OSError):  # a full disk, say: one line, and nothing in place
            raise self.error(err) from None


writing = AtomicWriter  # ``with writing(path, label) as handle:``


def write_file(path: str | Path, data: bytes | str, label: str) -> None:
    """Write ``data`` to ``path`` whole (see :class:`AtomicWriter`)."""
    with writing(path, label, binary=isinstance(data, bytes)) as handle:
        handle.write(data)


def _node(path: str | Path) -> os.stat_result | None:
    """What ``path`` names, links followed; None where nothing is (a dangling link included)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
