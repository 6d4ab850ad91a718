"""A private adb server and an attached loopback phone, for tests and demos.

``adb_server()`` starts Debian's ``adb`` server on a free port of 127.0.0.1
(never 5037, so a developer's own server and phones are left alone) with a
throw-away ``HOME`` for its keys, and kills it at the end.
``loopback_phone()`` starts a :class:`~pocketbench.testing.phone.adbd.TestAdbd`
and attaches it with ``adb connect``.  ``attached_phone()`` does both::

    with attached_phone(tmp_path) as phone:
        device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from attrs import frozen

from pocketbench.testing.phone.adbd import Fixture, TestAdbd


def find_adb() -> str | None:
    """Debian's adb (``/usr/bin/adb``), or any ``adb`` on PATH; None when missing."""
    for candidate in ("/usr/bin/adb", shutil.which("adb")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A free TCP port of 127.0.0.1 outside adb's emulator range (5554-5585)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not 5037 <= port <= 5585:
            return port


class AdbServer:
    """An adb server on a private port, driven through the ``adb`` command."""

    def __init__(self, port: int, adb: str, home: Path) -> None:
        self.port = port
        self.adb = adb
        self.env = {**os.environ, "HOME": str(home), "ANDROID_SDK_HOME": str(home), "ADB_MDNS": "0"}
        self.env.pop("ANDROID_SERIAL", None)
        self.env.pop("ANDROID_ADB_SERVER_PORT", None)
        self._background: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.adb, "-P", str(self.port), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def devices(self) -> dict[str, str]:
        """serial -> state, as ``adb devices`` lists them."""
        out = self.run("devices").stdout
        rows = (line.split("\t") for line in out.splitlines()[1:] if "\t" in line)
        return {serial: state for serial, state in rows}

    def connect(self, address: str, *, state: str = "device", timeout: float = 15) -> str:
        """``adb connect ADDRESS``, then wait until the server lists it in ``state``.

        For "offline" (a device that never answers) the command itself would
        block for 10 s, so it is left running in the background.
        """
        if state == "offline":
            cmd = [self.adb, "-P", str(self.port), "connect", address]
            proc = subprocess.Popen(
                cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self._background.append(proc)
            self.wait_for(address, state, timeout=timeout)
            return ""
        out = self.run("connect", address, timeout=timeout)
        self.wait_for(address, state, timeout=timeout)
        return (out.stdout + out.stderr).strip()

    def disconnect(self, address: str) -> None:
        self.run("disconnect", address)

    def wait_for(self, serial: str, state: str | None, *, timeout: float = 15) -> None:
        """Until ``serial`` is listed in ``state`` (None: until it is not listed)."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.devices().get(serial)
            if current == state:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{serial} is {current or 'not listed'}, expected {state or 'gone'}"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def adb_server(port: int | None = None) -> Iterator[AdbServer]:
    """Start ``adb -P PORT start-server``; ``adb -P PORT kill-server`` at the end."""
    adb = find_adb()
    if adb is None:
        raise RuntimeError("no adb binary: install Debian's `adb` package (apt-get install -y adb)")
    with tempfile.TemporaryDirectory(prefix="pocketbench-adb-home-") as home:
        server = AdbServer(port or free_port(), adb, Path(home))
        started = server.run("start-server")
        if started.returncode != 0:
            raise RuntimeError(f"adb start-server failed: {started.stderr.strip()}")
        try:
            yield server
        finally:
            server.run("kill-server")
            for proc in server._background:
                proc.kill()
                proc.wait()


@frozen
class LoopbackPhone:
    """An attached loopback phone: ``serial`` as the server lists it, the server's port."""

    serial: str
    server_port: int
    daemon: TestAdbd
    server: AdbServer

    @property
    def spec(self) -> str:
        """The ``--device`` value naming this phone behind its private server."""
        return f"adb://127.0.0.1:{self.server_port}/{self.serial}"


@contextlib.contextmanager
def loopback_phone(
    server: AdbServer, root: Path, fixture: Fixture | None = None
) -> Iterator[LoopbackPhone]:
    """Start a :class:`TestAdbd` under ``root`` and attach it to ``server``."""
    fixture = fixture or Fixture()
    with TestAdbd(Path(root), fixture) as daemon:
        serial = f"127.0.0.1:{daemon.port}"
        wanted = {"device": "device", "unauthorized": "unauthorized", "silent": "offline"}[
            fixture.mode
        ]
        server.connect(serial, state=wanted)
        try:
            yield LoopbackPhone(serial, server.port, daemon, server)
        finally:
            server.disconnect(serial)


@contextlib.contextmanager
def attached_phone(root: Path, fixture: Fixture | None = None) -> Iterator[LoopbackPhone]:
    """A private adb server with one loopback phone attached."""
    with adb_server() as server, loopback_phone(server, root, fixture) as phone:
        yield phone
