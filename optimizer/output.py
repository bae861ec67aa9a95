"""Files hetplan writes: whole or not at all, and never over a file the user did not free."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from optimizer.errors import HetplanError


def check_destination(path: Path, *, force: bool = False) -> None:
    """Fail now, before any long work, if ``path`` cannot be written: it exists (a symlink
    counts, even a dangling one) and ``force`` is not given, it is a directory, or its nearest
    existing parent is not a directory this process may create files in."""
    if os.path.lexists(path):
        if path.is_dir() and not path.is_symlink():
            raise HetplanError(f"{path}: is a directory")
        if not force:
            raise HetplanError(f"{path}: exists; not replaced without force (--force)")
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise HetplanError(f"{path}: cannot write: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HetplanError(f"{path}: cannot write: {parent} is not writable")


def write_text_atomic(path: Path, text: str, *, force: bool = False) -> Path:
    """``text`` to ``path`` through a temporary file in the same directory, flushed to disk and
    renamed into place, so a reader (or a crash, a full disk, a kill) leaves the old file or the
    new one, never half of one; an existing ``path`` is replaced only with ``force``, and a
    symlink there is replaced itself, never written through."""
    return write_bytes_atomic(path, text.encode("utf-8"), force=force)


def write_bytes_atomic(path: Path, data: bytes, *, force: bool = False) -> Path:
    """``data`` to ``path`` as :func:`write_text_atomic` writes text."""
    check_destination(path, force=force)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise HetplanError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HetplanError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:  # Ctrl-C, SIGTERM: no temporary file left behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
