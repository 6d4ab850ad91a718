"""The one status channel: what pocketbench and its plugins tell the user while working.

Everything goes to stderr, never into results or reports.  :func:`say` is one
line ("llama.cpp tools built in ..."); :func:`status` shows a line while slow
one-time work (build, synthesis, quantization, export) runs: a terminal gets
rich's spinner with live updates, anything else (CI logs, a pipe) the line
once, so a long silent step never looks like a hang.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

#: Where a component sends its lines for the user (:func:`say` by default; tests collect them).
Echo = Callable[[str], None]


class Status(Protocol):
    def update(self, text: str) -> None: ...


class _Quiet:
    def update(self, text: str) -> None:
        pass  # one line was printed; repeating every step would flood a log


def say(message: str) -> None:
    """One progress line for the user of ``bench`` (stderr)."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def status(text: str) -> Iterator[Status]:
    """Show ``text`` while the block runs; ``.update(text)`` refines it on a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        say(text)
        yield _Quiet()
        return
    with console.status(text) as live:
        yield live
