"""Where built runtimes and synthesised models are cached between runs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


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
    """sha256 of a file, memoised in the cache by (path, size, mtime) so big models hash once."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    memo = cache_dir("digests") / hashlib.sha256(key.encode()).hexdigest()
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    memo.write_text(digest + "\n")
    return digest
