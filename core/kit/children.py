"""Helper processes of prepare (a cmake/ninja build, llama-quantize, an export) stop with bench.

A service stop (SIGTERM) or a closed terminal (SIGHUP) reaches ``bench``
alone, and Ctrl-C reaches only the terminal's foreground group: killing the
direct child is not enough either, because ``cmake --build`` leaves ninja and
the compilers running.  So every helper runs in a process group of its own,
and the whole group is stopped when ``bench`` stops (a stopping signal, an
error, another device's thread being interrupted), before the caller removes
its half-built cache entry.  A helper stopped this way raises
:class:`ChildStopped`, a :class:`KeyboardInterrupt`, so the interruption is
reported as one, never as a failed build.

SIGKILL cannot be caught, so ``bench`` killed that way stops nothing itself.
Each helper group therefore has a watcher: a small process in a session of
its own that reads a pipe only ``bench`` holds.  When ``bench`` ends for any
reason the pipe closes and the watcher kills the group; when the helper ends
first, ``bench`` says so on the pipe and the watcher leaves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from typing import Any

#: Seconds a helper has to end after SIGTERM before its group is killed.
GRACE_S = 5.0

#: The watcher: EOF on stdin (bench is gone) kills the helper's group;
#: a byte (the helper ended) lets it leave the group alone.
WATCHER = """
import os, signal, sys
if not sys.stdin.buffer.read(1):
    try:
        os.killpg(int(sys.argv[1]), signal.SIGKILL)
    except OSError:
        pass
"""

_running: dict[int, subprocess.Popen[Any]] = {}
_stopped: set[int] = set()
_lock = threading.Lock()


class ChildStopped(KeyboardInterrupt):
    """A helper process was stopped because ``bench`` is stopping."""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to ``proc``'s whole group, SIGKILL to what is left after :data:`GRACE_S`."""
    try:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(GRACE_S)
    finally:
        # Grandchildren (ninja's compilers) and a leader that ignored SIGTERM.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_all() -> None:
    """Stop every helper in progress (called from the main thread when a signal arrived)."""
    with _lock:
        procs = list(_running.values())
        _stopped.update(p.pid for p in procs)
    for proc in procs:
        with contextlib.suppress(Exception):  # stopping the others matters more
            stop_group(proc)


@contextlib.contextmanager
def child(argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[Any]]:
    """``subprocess.Popen(argv, **popen)`` in a process group of its own, stopped with bench.

    When the block ends by an exception (a signal's :class:`KeyboardInterrupt`
    included) the group is stopped and waited for before the exception goes
    on; when :func:`stop_all` stopped it, :class:`ChildStopped` is raised.
    """
    proc = subprocess.Popen(list(argv), process_group=0, **popen)
    with _lock:
        _running[proc.pid] = proc
    name = os.path.basename(str(argv[0]))
    watcher = _watch(proc.pid)
    try:
        yield proc
    except BaseException as exc:
        stop_group(proc)
        _close(proc)
        _release(watcher)
        # A build that "failed" because bench stopped it was interrupted, not broken.
        if _forget(proc) and not isinstance(exc, KeyboardInterrupt):
            raise ChildStopped(f"{name} was stopped") from exc
        raise
    _close(proc)
    _release(watcher)
    if _forget(proc):
        raise ChildStopped(f"{name} was stopped")


def _watch(group: int) -> subprocess.Popen[bytes] | None:
    """Start the watcher that kills ``group`` if bench dies without stopping it."""
    import sys

    try:
        return subprocess.Popen(
            [sys.executable, "-c", WATCHER, str(group)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Out of the terminal's reach: Ctrl-C is bench's to handle.
            start_new_session=True,
        )
    except OSError:
        return None  # no watcher: the signals bench catches still stop the group


def _release(watcher: subprocess.Popen[bytes] | None) -> None:
    """The helper has ended: the watcher leaves without killing anything."""
    if watcher is None:
        return
    assert watcher.stdin is not None
    with contextlib.suppress(OSError):
        watcher.stdin.write(b"x")
        watcher.stdin.close()
    watcher.wait()


def _close(proc: subprocess.Popen[Any]) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _forget(proc: subprocess.Popen[Any]) -> bool:
    """Unregister ``proc``; True when :func:`stop_all` stopped it."""
    with _lock:
        _running.pop(proc.pid, None)
        stopped = proc.pid in _stopped
        _stopped.discard(proc.pid)
    return stopped


def run_child(
    argv: Sequence[str],
    *,
    input: str | bytes | None = None,
    timeout: float | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[Any]:
    """:func:`subprocess.run` for a helper: its own process group, stopped with bench.

    Takes ``stdout``, ``stderr``, ``stdin``, ``cwd``, ``env``, ``text``,
    ``errors`` like :class:`subprocess.Popen`, and ``capture_output=True``;
    past ``timeout`` the group is stopped and :class:`subprocess.TimeoutExpired`
    raised, as :func:`subprocess.run` does.
    """
    if popen.pop("capture_output", False):
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    if input is not None:
        popen["stdin"] = subprocess.PIPE
    with child(argv, **popen) as proc:
        out, err = proc.communicate(input, timeout=timeout)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
