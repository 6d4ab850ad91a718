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
    try:
        yield proc
    except BaseException as exc:
        stop_group(proc)
        _close(proc)
        # A build that "failed" because bench stopped it was interrupted, not broken.
        if _forget(proc) and not isinstance(exc, KeyboardInterrupt):
            raise ChildStopped(f"{name} was stopped") from exc
        raise
    _close(proc)
    if _forget(proc):
        raise ChildStopped(f"{name} was stopped")


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
