"""Who is measuring: a process's identity, recorded with jobs, leases and claims.

A job, a device lease or a configuration claim names its holder by host, pid
and the process's start (boot id + start time), so a pid reused after a
crash or a reboot is never mistaken for the holder.  On this host a holder is
alive when that exact process still runs; on another host (several machines
sharing one store) when its heartbeat is recent.
"""

from __future__ import annotations

import os
import socket
import time
from functools import cache

from attrs import frozen

#: A holder on another host whose heartbeat is older than this is taken for dead.
STALE_AFTER_S = 120.0
#: How often a live holder renews its heartbeat (well inside STALE_AFTER_S).
HEARTBEAT_S = 15.0


@cache
def host() -> str:
    return socket.gethostname() or "localhost"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def start_of(pid: int) -> str | None:
    """``BOOT_ID/START_TICKS`` of ``pid``; None when it does not run (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] == "Z":
        return None
    return f"{_boot_id()}/{fields[19]}" if len(fields) > 19 else None


@frozen
class Holder:
    """A process that holds something (a device, a configuration, a running job)."""

    host: str
    pid: int
    start: str
    command: str = ""
    since: float = 0.0
    heartbeat: float = 0.0

    @classmethod
    def me(cls, command: str = "") -> Holder:
        pid = os.getpid()
        now = time.time()
        return cls(host(), pid, start_of(pid) or "", command, now, now)

    def alive(self, now: float | None = None) -> bool:
        """Whether the holder still runs (exactly, on this host; by heartbeat elsewhere)."""
        if self.host == host():
            return bool(self.start) and start_of(self.pid) == self.start
        return (now or time.time()) - self.heartbeat < STALE_AFTER_S

    def describe(self) -> str:
        """``pid 123 on host h (bench run ...) since 12:03:04``."""
        since = time.strftime("%H:%M:%S", time.localtime(self.since)) if self.since else "?"
        what = f" ({self.command})" if self.command else ""
        return f"pid {self.pid} on {self.host}{what} since {since}"
