"""Start a command so that its own peak memory is what gets measured.

On Linux a child's ``ru_maxrss`` starts from its parent's resident size at
fork and survives ``exec``: a 10 MB runtime started by a 200 MB ``bench``
would read 200 MB.  So the command is started by a tiny launcher
(``python -S``, about 10 MB): the launcher forks and execs the command,
waits for it with ``wait4`` and writes the command's own exit status, peak
RSS and CPU time to a pipe.  The command stays in the launcher's process
group, so stopping the group stops it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from attrs import frozen

#: The launcher: fd to report on, then the command's argv.
_LAUNCHER = r"""
import os, sys
fd, argv = int(sys.argv[1]), sys.argv[2:]
try:
    pid = os.fork()
except OSError as e:
    os.write(fd, b"error %d %s" % (e.errno or 0, (e.strerror or str(e)).encode()))
    os._exit(127)
if pid == 0:
    os.close(fd)
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, b"\0pocketbench-exec-error %d %s\n" % (e.errno or 0, (e.strerror or str(e)).encode()))
    os._exit(127)
while True:
    try:
        _, status, usage = os.wait4(pid, 0)
        break
    except InterruptedError:
        continue
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


def launcher_argv(argv: Sequence[str], fd: int) -> list[str]:
    """The argv that runs ``argv`` under the launcher, reporting on ``fd``."""
    return [sys.executable, "-S", "-c", _LAUNCHER, str(fd), *argv]


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
