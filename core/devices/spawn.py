"""Start a command so that its own peak memory is what gets measured.

On Linux a child's ``ru_maxrss`` starts from its parent's resident size at
fork and survives ``exec``: a 10 MB runtime started by a 200 MB ``bench``
would read 200 MB.  So the command is started by a tiny launcher
(``python -S``, about 10 MB): the launcher forks and execs the command,
waits for it with ``wait4`` and writes the command's own exit status, peak
RSS and CPU time to a pipe.  The command stays in the launcher's process
group, so stopping the group stops it; and when ``bench`` itself dies
(kill -9), the launcher stops the group (PR_SET_PDEATHSIG).

With token capture on, the command's stdout is a pipe the launcher reads:
each piece of output is passed on unchanged and its arrival time noted
(``time.monotonic_ns`` since the fork), so a runtime that writes each token
as it makes it gives one timestamp per token, taken beside the runtime and
not by ``bench`` (see :mod:`pocketbench.core.api.tokentimes`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from attrs import frozen

#: The launcher: fd to report on, fd for stdout arrival times (-1: none), then the command's argv.
_LAUNCHER = r"""
import os, sys, time
fd, tfd, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
parent = os.getppid()
if tfd >= 0:
    pipe_r, pipe_w = os.pipe()
start = time.monotonic_ns()
try:
    pid = os.fork()
except OSError as e:
    os.write(fd, b"error %d %s" % (e.errno or 0, (e.strerror or str(e)).encode()))
    os._exit(127)
if pid == 0:
    os.close(fd)
    if tfd >= 0:
        os.dup2(pipe_w, 1)
        os.close(pipe_w)
        os.close(pipe_r)
        os.close(tfd)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, b"\0pocketbench-exec-error %d %s\n" % (e.errno or 0, (e.strerror or str(e)).encode()))
    os._exit(127)
# bench killed with kill -9 (or a power cut of the host process): the
# runtime must not run on, unseen, past the device lock.  Imported after the
# fork, so the command's peak memory does not start from ctypes' pages.
try:
    import ctypes, signal
    signal.signal(signal.SIGUSR2, lambda *_: os.killpg(0, signal.SIGKILL))
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGUSR2), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os.killpg(0, signal.SIGKILL)  # bench was gone before the guard was set
except (ImportError, AttributeError, OSError):
    pass  # not Linux: no guard

if tfd >= 0:
    # Kept in memory and written after the command ends: no extra system
    # call competes with the runtime while it generates.
    os.close(pipe_w)
    arrivals = []
    done = 0
    while True:
        try:
            piece = os.read(pipe_r, 65536)
        except InterruptedError:
            continue
        if not piece:
            break
        now = time.monotonic_ns()
        view = memoryview(piece)
        while view:
            view = view[os.write(1, view):]
        done += len(piece)
        arrivals.append(b"%d %d\n" % (now - start, done))
    os.close(pipe_r)

while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
if tfd >= 0:
    os.write(tfd, b"".join(arrivals))
os.write(fd, b"%d %d %.6f" % (status, usage.ru_maxrss, usage.ru_utime + usage.ru_stime))
os._exit(0)
"""


@frozen
class Report:
    """What the launcher says about the command it ran."""

    #: ``os.wait4``'s status of the command (decode with ``os.waitstatus_to_exitcode``).
    status: int
    peak_rss_bytes: int
    cpu_s: float


def launcher_argv(argv: Sequence[str], fd: int, arrivals_fd: int = -1) -> list[str]:
    """The argv that runs ``argv`` under the launcher, reporting on ``fd``.

    ``arrivals_fd`` >= 0: the command's stdout goes through the launcher,
    which writes one line ``NS END`` per piece read to that fd when the
    command has ended (nanoseconds since the start, stdout bytes so far).
    """
    return [sys.executable, "-S", "-c", _LAUNCHER, str(fd), str(arrivals_fd), *argv]


def read_arrivals(data: bytes) -> tuple[tuple[float, int], ...]:
    """The launcher's arrival lines as (milliseconds since the start, stdout bytes so far)."""
    out = []
    for line in data.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.append((int(parts[0]) / 1e6, int(parts[1])))
    return tuple(out)


def read_rusage(data: bytes) -> tuple[int, float] | None:
    """The phone launcher's closing ``rusage PEAK_KB CPU_S`` line (see ``tokenlaunch.c``)
    as (the program's peak RSS in bytes, its CPU seconds).

    None when it is missing: the launcher did not see its program end.
    """
    for line in reversed(data.splitlines()):
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"rusage":
            try:
                return int(parts[1]) * 1024, float(parts[2])
            except ValueError:
                return None
    return None


def read_report(fd: int) -> Report | None:
    """The launcher's report from the read end of its pipe (None: it was killed first)."""
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    parts = b"".join(chunks).split()
    if len(parts) != 3 or parts[0] == b"error":
        return None
    try:
        return Report(int(parts[0]), int(parts[1]) * 1024, float(parts[2]))
    except ValueError:
        return None


EXEC_ERROR = "\0pocketbench-exec-error "
