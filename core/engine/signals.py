"""SIGINT, SIGTERM and SIGHUP end a run the same way.

A service stop (``systemctl stop``, ``kill PID``) or a closed terminal must
not leave the runtime running after ``bench`` exits, nor a job that reads as
"running" forever.  :func:`handled` turns each of the three signals into a
:class:`Stopped` exception (a :class:`KeyboardInterrupt`, so every path that
already stops the runtime's process group on Ctrl-C does so for all three),
and the exit status is the shells' convention: 128 + the signal's number.

While the store is written (:func:`critical`), a signal waits until the
write is committed or rolled back, so an interruption never leaves half a
run behind.  :data:`stopping` tells threads measuring other devices to stop
as soon as their current run ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from pocketbench.core.devices.base import stop_active_runs
from pocketbench.core.kit import children

#: The signals that stop a run, and how the user is told.
SIGNALS = {
    signal.SIGINT: "interrupted (Ctrl-C)",
    signal.SIGTERM: "stopped by SIGTERM",
    signal.SIGHUP: "stopped by SIGHUP (the terminal closed)",
}

#: Set once a stopping signal arrived: measuring threads stop after their current run.
stopping = threading.Event()
_state = threading.local()
_pending: list[int] = []
_received: list[int] = []


class Stopped(KeyboardInterrupt):
    """A stopping signal arrived; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(SIGNALS.get(signum, f"signal {signum}"))
        self.signum = signum

    @property
    def reason(self) -> str:
        return SIGNALS.get(self.signum, f"signal {self.signum}")


def exit_code(exc: BaseException) -> int:
    """128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP)."""
    signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
    return 128 + int(signum)


def reason(exc: BaseException) -> str:
    return exc.reason if isinstance(exc, Stopped) else SIGNALS[signal.SIGINT]


def _handler(signum: int, frame: FrameType | None) -> None:
    stopping.set()
    _received.append(signum)
    if getattr(_state, "critical", 0):
        _pending.append(signum)
        return
    raise Stopped(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    stopping.clear()
    _pending.clear()
    _received.clear()
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold stopping signals until the block ends (a store write commits or rolls back)."""
    _state.critical = getattr(_state, "critical", 0) + 1
    try:
        yield
    finally:
        _state.critical -= 1
        if (
            not _state.critical
            and _pending
            and threading.current_thread() is threading.main_thread()
        ):
            raise Stopped(_pending.pop(0))


def check() -> None:
    """Raise :class:`Stopped` in a worker thread once a stopping signal arrived."""
    if stopping.is_set():
        raise Stopped(_received[0] if _received else signal.SIGINT)


def join_devices(
    threads: Sequence[threading.Thread], wake: Callable[[], None] | None = None
) -> None:
    """Start one thread per device and wait for all of them, stopping them all on a signal.

    A signal reaches only this thread: it stops every device's run in
    progress and every build or export another device's thread waits for,
    ``wake`` rouses threads waiting for work, and each thread then marks its
    job interrupted and ends before the signal goes on up.
    """
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(1.0)
    except BaseException:
        stopping.set()
        stop_active_runs()
        children.stop_all()
        if wake is not None:
            wake()
        for t in threads:
            t.join(120)
        raise
