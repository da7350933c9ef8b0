"""Atomic file writes: a run killed mid-write leaves the previous file intact.

Every file jaxoff writes (sweep outputs, tables, figures, checkpoints) goes
through one of these helpers. The content is written to a unique temporary
file in the *same directory* as the target, flushed and fsynced, then moved
into place with :func:`os.replace`, which is atomic on POSIX and Windows when
source and destination are on the same filesystem. Readers therefore see
either the old file or the complete new one, never a truncated file that
parses. Concurrent writers each use their own temporary name, so they cannot
corrupt each other; the last ``os.replace`` wins.

Three entry points:

* :func:`atomic_write_text` and :func:`atomic_write_bytes` for content that
  is already in memory;
* :func:`atomic_path`, a context manager yielding a temporary path, for
  writers that insist on a filename (``df.to_csv(tmp)``, ``fig.savefig(tmp)``,
  ``np.savez(tmp)``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Union

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_path"]

PathLike = Union[str, "os.PathLike[str]"]


def _fsync(path: str) -> None:
    """Flush a file's content (or a directory entry) to disk; best effort where fsync is missing."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    _fsync(path)


def _fsync_dir(directory: str) -> None:
    """Persist a rename by fsyncing its directory (POSIX only; no-op elsewhere)."""
    if os.name == "posix":
        _fsync(directory)


def _unique_temp(target: Path, suffix: str | None) -> str:
    """Create (and close) a uniquely named empty file next to ``target``."""
    if suffix is None:
        suffix = "".join(target.suffixes[-1:])  # keep the extension for format detection
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + suffix,
                               dir=str(target.parent))
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place on success.

    Use it with writers that need a filename. On normal exit of the ``with``
    block the temporary file is fsynced and atomically renamed onto ``path``.
    If the block raises (or the writer never created the file), the temporary
    file is removed and an existing ``path`` is left untouched.

    Arguments:
        path: the final destination. Its directory must exist.
        suffix: extension for the temporary name (e.g. ``".png"``) so that
            writers which infer the format from the name behave; defaults to
            the extension of ``path``.

    Returns:
        A context manager yielding a :class:`pathlib.Path` to write to.

    Example::

        with atomic_path("table.csv") as tmp:
            df.to_csv(tmp)
    """
    target = Path(os.fspath(path))
    tmp = _unique_temp(target, suffix)
    try:
        yield Path(tmp)
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"the writer did not create the temporary file {tmp}")
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(str(target.parent))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (old file intact if interrupted).

    Arguments:
        path: the destination file; its directory must exist.
        data: the bytes to write.

    Returns:
        None.
    """
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (old file intact if interrupted).

    Arguments:
        path: the destination file; its directory must exist.
        text: the string to write (newlines are written as given).
        encoding: text encoding, UTF-8 by default.

    Returns:
        None.
    """
    atomic_write_bytes(path, text.encode(encoding))
