"""Progress for slow one-time work (build, synthesis, quantization) on stderr.

A terminal gets rich's spinner with live updates; anything else (CI logs, a
pipe) gets the line once, so a long silent step never looks like a hang.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Status(Protocol):
    def update(self, text: str) -> None: ...


class _Quiet:
    def update(self, text: str) -> None:
        pass  # one line was printed; repeating every step would flood a log


@contextlib.contextmanager
def status(text: str) -> Iterator[Status]:
    """Show ``text`` while the block runs; ``.update(text)`` refines it on a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        console.print(text, soft_wrap=True, highlight=False, markup=False)
        yield _Quiet()
        return
    with console.status(text) as live:
        yield live
