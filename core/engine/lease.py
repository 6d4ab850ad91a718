"""One measurement per device, one claim per configuration.

Two processes measuring on one device spoil each other's figures (on a
2-core host two tiny runs went from 0.1 s to over 60 s each), and two
processes measuring one configuration of one campaign would store its runs
twice.  So before a job is prepared:

1. the *device* is taken: a lock file on this host (``flock``: released by
   the OS when the holder dies, whatever store it writes to) and a lease row
   in the store (seen by every host sharing it);
2. the *configuration* is claimed in the store, atomically; runs found
   stored by then are not measured again, so the second of two processes
   finds the runs done or measures only the remainder.

A second process waits, printing who holds the device or configuration, or
with ``--no-wait`` stops at once (exit code :attr:`ExitCode.BUSY`).  A lease
or claim whose holder died is taken over, saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
from attrs import define

from pocketbench.core.api.errors import ExitCode, PocketbenchError
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.cache import cache_dir, writable_dir, write_atomic
from pocketbench.core.kit.identity import HEARTBEAT_S, Holder, host
from pocketbench.core.kit.status import Echo
from pocketbench.core.results import claims
from pocketbench.core.results.store import Store

#: How often a waiting process looks again.
POLL_S = 0.5


class BusyError(PocketbenchError):
    exit_code = ExitCode.BUSY


def device_key(device: Device) -> str:
    """The lease's name: a phone by its adb name, the local host by its host name."""
    return f"local@{host()}" if device.is_local else device.name


def lock_dir() -> Path:
    """``$POCKETBENCH_LOCKS``, else the cache's ``locks`` folder (host-wide by default)."""
    override = os.environ.get("POCKETBENCH_LOCKS")
    if override:
        return writable_dir(Path(override), "POCKETBENCH_LOCKS")
    return cache_dir("locks")


@define(kw_only=True)
class Leases:
    """Takes devices and configurations for this process (see the module's docstring)."""

    store: Store
    echo: Echo
    wait: bool = True
    command: str = ""
    #: Serialises this process's use of the store connection (the runner's lock).
    store_lock: threading.Lock = attrs.field(factory=threading.Lock)
    holder: Holder = attrs.field(init=False)
    _held: int = attrs.field(init=False, default=0)
    _stop: threading.Event | None = attrs.field(init=False, default=None)
    _count_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        self.holder = Holder.me(self.command)

    @contextlib.contextmanager
    def device(self, device: Device) -> Iterator[None]:
        key = device_key(device)
        with self._local_lock(key, device.name):
            self._take(
                lambda: claims.take_lease(self.store, key, self.holder),
                f"device {device.name}",
                "the lease of",
            )
            try:
                yield
            finally:
                with self.store_lock, contextlib.suppress(PocketbenchError):
                    claims.drop_lease(self.store, key, self.holder)
                self._release()

    @contextlib.contextmanager
    def configuration(self, campaign: str, config_key: str, label: str) -> Iterator[None]:
        self._take(
            lambda: claims.take_claim(self.store, campaign, config_key, self.holder),
            f"{label} (campaign {campaign})",
            "the claim on",
        )
        try:
            with self.store_lock:
                dead = claims.settle_dead_jobs(self.store, campaign, config_key)
            for holder in dead:
                self.echo(
                    f"note: {label}: a job of {holder.describe()} ended without finishing;"
                    " it is marked interrupted and its stored runs count"
                )
            yield
        finally:
            with self.store_lock, contextlib.suppress(PocketbenchError):
                claims.drop_claim(self.store, campaign, config_key, self.holder)
            self._release()

    # -- waiting --------------------------------------------------------------

    def _take(
        self, attempt: Callable[[], tuple[Holder | None, Holder | None]], what: str, kind: str
    ) -> None:
        told = False
        while True:
            with self.store_lock:
                busy, dead = attempt()
            if busy is None:
                break
            self._busy(what, busy.describe(), told)
            told = True
            time.sleep(POLL_S)
        if dead is not None:
            self.echo(f"note: took over {kind} {what} from {dead.describe()}, which is gone")
        self._acquired()

    def _busy(self, what: str, who: str, told: bool) -> None:
        if not self.wait:
            raise BusyError(
                f"{what} is being measured by {who}; wait for it (without --no-wait) or measure"
                " another device"
            )
        if not told:
            self.echo(f"waiting for {what}: being measured by {who} (--no-wait exits instead)")

    @contextlib.contextmanager
    def _local_lock(self, key: str, name: str) -> Iterator[None]:
        safe = re.sub(r"[^A-Za-z0-9._@-]", "_", key)
        base = lock_dir()
        with open(base / f"{safe}.lock", "a+") as f:
            told = False
            while True:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self._busy(f"device {name}", _who(base / f"{safe}.holder"), told)
                    told = True
                    time.sleep(POLL_S)
            with contextlib.suppress(OSError):
                write_atomic(base / f"{safe}.holder", _holder_text(self.holder).encode())
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- the heartbeat ----------------------------------------------------------

    def _acquired(self) -> None:
        with self._count_lock:
            self._held += 1
            if self._held == 1:
                self._stop = threading.Event()
                threading.Thread(
                    target=self._beat, args=(self._stop,), name="heartbeat", daemon=True
                ).start()

    def _release(self) -> None:
        with self._count_lock:
            self._held -= 1
            if self._held == 0 and self._stop is not None:
                self._stop.set()

    def _beat(self, stop: threading.Event) -> None:
        # Hosts sharing the store see this process alive while it renews.
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):
                claims.beat(str(self.store.path), self.holder)


def _holder_text(holder: Holder) -> str:
    return json.dumps(
        {"pid": holder.pid, "host": holder.host, "command": holder.command, "since": holder.since}
    )


def _who(path: Path) -> str:
    try:
        d = json.loads(path.read_text())
        return Holder(d["host"], int(d["pid"]), "", d.get("command", ""), d["since"]).describe()
    except (OSError, ValueError, KeyError, TypeError):
        return "another process on this host"
