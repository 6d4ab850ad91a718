"""The cache of built runtimes and prepared models, and how every file is written.

Every cached artefact (tool build, preset model, quantized model, prompt) is
made under a lock, written to a temporary name in its final directory and
published with one atomic rename, so concurrent ``bench`` processes never see
or produce half-written files.  Reports and other outputs use the same
:func:`write_atomic`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pocketbench.core.api.status import say

SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_dir(*parts: str) -> Path:
    """``$POCKETBENCH_CACHE``, else ``$XDG_CACHE_HOME/pocketbench``, else ``~/.cache/pocketbench``.

    Heavy builds (llama.cpp tools, exported models) live here so that tests
    and repeated benchmarks reuse them instead of rebuilding.
    """
    root = os.environ.get("POCKETBENCH_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "pocketbench"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_digest(path: Path, *, chunk: int = 1 << 20) -> str:
    """sha256 of a file, memoised in the cache by (path, size, mtime) so big models hash once.

    A memo that is not a whole sha256 (a full disk leaves an empty file) is
    ignored and rewritten: a wrong digest would let one model pass for another.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo = cache_dir("digests") / hashlib.sha256(key.encode()).hexdigest()
    try:
        recorded = memo.read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    if SHA256.fullmatch(recorded):
        return recorded
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    with contextlib.suppress(OSError):  # a memo is an optimisation; the digest is right
        write_atomic(memo, (digest + "\n").encode())
    return digest


@contextlib.contextmanager
def file_lock(path: Path, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (released by the OS if we die).

    When another process holds it and ``waiting`` is given, say so first
    ("waiting for another process: ``waiting``"), so a wait never looks like a hang.
    """
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                say(f"waiting for another process: {waiting}")
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
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
