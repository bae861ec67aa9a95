"""Files hetplan writes: whole or not at all, and never over a file the user did not free."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from optimizer.errors import HetplanError


def write_text_atomic(path: Path, text: str, *, force: bool = False) -> Path:
    """``text`` to ``path`` through a temporary file in the same directory, so a reader never
    sees half a file; an existing ``path`` is replaced only with ``force``."""
    if path.exists() and not force:
        raise HetplanError(f"{path}: exists; not replaced without force (--force)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise HetplanError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary name only
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HetplanError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
