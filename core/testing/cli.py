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
