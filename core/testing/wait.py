"""Waiting for a condition in tests, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(poll)


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (exited, or a zombie waiting for its parent)."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
