"""Running the ``bench`` console script from tests (yours or ours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Folder of the running interpreter's console scripts (``bench`` lives there).
BIN = Path(sys.executable).parent


def bench_env(*extra_paths: Path | str, **env: str) -> dict[str, str]:
    """The current environment with ``extra_paths`` first on PYTHONPATH."""
    e = dict(os.environ)
    if extra_paths:
        e["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in extra_paths), e.get("PYTHONPATH", "")])
    e.update(env)
    return e


def run_bench(
    *args: str,
    cwd: Path | str,
    paths: tuple[Path | str, ...] = (),
    timeout: float = 600,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``bench ARGS`` as a user would, capturing its output."""
    return subprocess.run(
        [str(BIN / "bench"), *args],
        cwd=cwd,
        env=bench_env(*paths, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_runs(
    db: Path | str, count: int, *, timeout: float = 120, warmups: bool = False
) -> int:
    """Wait until ``db`` holds ``count`` stored runs (measured only, unless ``warmups``).

    For tests that interrupt ``bench`` mid-campaign: returns how many runs
    were stored when it stopped waiting (fewer than ``count`` on timeout).
    """
    import sqlite3
    import time

    query = "SELECT COUNT(*) FROM runs" + ("" if warmups else " WHERE warmup = 0")
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline and stored < count:
        time.sleep(0.1)
        if not Path(db).exists():
            continue
        try:
            with sqlite3.connect(db, timeout=5) as c:
                stored = c.execute(query).fetchone()[0]
        except sqlite3.OperationalError:
            continue  # created but not initialised yet
    return stored
