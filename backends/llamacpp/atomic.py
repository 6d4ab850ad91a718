"""Cache helpers: an inter-process lock and write-then-rename temporary files.

Every cached artefact (tool build, preset model, quantized model, prompt) is
made under a lock, written to a temporary name in its final directory and
published with one atomic rename, so concurrent ``bench`` processes never
see or produce half-written files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (released by the OS if we die)."""
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def temp_beside(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path``; removed unless it was renamed away."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    with temp_beside(path) as tmp:
        tmp.write_bytes(data)
        os.replace(tmp, path)
