"""The adb server: finding it, starting a local one, listing devices, naming their states."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess

import adbutils
from adbutils.errors import AdbError

from pocketbench.core.api.errors import DeviceError
from pocketbench.core.kit.status import say

DEFAULT_PORT = 5037

NO_DEVICE = "no device attached: connect a phone with USB debugging enabled, or give adb:SERIAL"


class Connection(adbutils.AdbConnection):
    def _safe_connect(self) -> socket.socket:
        # adbutils would start its own adb on port 5037 when the server does
        # not answer; a vanished server must be reported, not replaced.
        return self._create_socket()


class Client(adbutils.AdbClient):
    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        c = Connection(self.host, self.port)
        if timeout:
            c.conn.settimeout(timeout)
        return c


def server_address(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """The adb server to use: arguments, else $ANDROID_ADB_SERVER_HOST/PORT, else 127.0.0.1:5037."""
    host = host or os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1"
    port = port or int(os.environ.get("ANDROID_ADB_SERVER_PORT") or DEFAULT_PORT)
    return host, port


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


INSTALL_ADB = (
    "install adb (Debian/Ubuntu: apt-get install adb; elsewhere: Android SDK platform-tools)"
    " or set ADB=/path/to/adb"
)


def adb_program() -> str:
    """The user's ``adb``: ``$ADB``, else the one on PATH (never adbutils' bundled copy).

    A bundled adb of another version would start a second server behind the
    user's back and fight theirs for the phones.
    """
    given = os.environ.get("ADB")
    if given:
        if shutil.which(given) is None:
            raise DeviceError(f"ADB={given} is not an executable program; {INSTALL_ADB}")
        return given
    found = shutil.which("adb")
    if found is None:
        raise DeviceError(f"no adb program found on PATH: {INSTALL_ADB}")
    return found


def ensure_server(host: str, port: int) -> None:
    """Check the adb server answers; start one on a local port like ``adb`` itself does.

    The server is started with the user's own ``adb`` (see :func:`adb_program`),
    as ``adb devices`` would, and the user is told so.
    """
    if _answers(host, port):
        return
    if _is_loopback(host):
        adb = adb_program()
        with contextlib.suppress(AdbError, OSError, subprocess.SubprocessError):
            subprocess.run(
                [adb, "-P", str(port), "start-server"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=20,
            )
        if _answers(host, port):
            say(
                f"started the adb server ({adb} -P {port} start-server); `adb kill-server` stops it"
            )
            return
        raise DeviceError(
            f"no adb server answers at {host}:{port} and none could be started: "
            "install adb (Debian: apt-get install adb) or start it with `adb start-server`"
        )
    raise DeviceError(
        f"no adb server answers at {host}:{port}: start it on that machine "
        f"(`adb -a -P {port} server nodaemon`) or check the address"
    )


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def list_devices(host: str | None = None, port: int | None = None) -> list[tuple[str, str]]:
    """``(serial, state)`` of every device the adb server knows (``bench devices``)."""
    host, port = server_address(host, port)
    ensure_server(host, port)
    try:
        return [(d.serial, d.state) for d in Client(host=host, port=port).list()]
    except (AdbError, OSError) as exc:
        raise DeviceError(f"the adb server at {host}:{port} does not answer: {exc}") from exc


def state_problem(serial: str, state: str, name: str | None = None) -> str | None:
    """What to tell the user about a device in ``state`` (None when it is usable)."""
    who = name or f"adb:{serial}"
    if state == "device":
        return None
    if state == "unauthorized":
        return f"{who} is unauthorized: unlock the phone and accept the 'Allow USB debugging' prompt, then retry"
    if state == "offline":
        how = (
            f"run `adb connect {serial}`"
            if ":" in serial
            else "reconnect the cable or run `adb reconnect offline`"
        )
        return f"{who} is offline: {how}, then retry"
    if state.startswith("no permissions"):
        return f"{who}: no permission to open the USB device: add a udev rule for it, then retry"
    return f"{who} is in state {state!r}, not booted normally: reboot it into Android, then retry"
