"""A loopback Android "phone" for tests: an adb daemon on 127.0.0.1.

:class:`TestAdbd` listens on ``127.0.0.1:PORT`` and speaks the real adb
transport protocol, so Debian's adb server attaches it with
``adb connect 127.0.0.1:PORT``.  Commands run on this host in a sandbox that
stands in for ``/data/local/tmp``; ``getprop``, ``dumpsys battery`` and the
thermal zones answer from a :class:`Fixture`.  It counts the bytes sync SEND
receives (a second push of the same file must transfer nothing), records the
shell commands it ran, and can be killed mid-run like a phone pulled off
its cable.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from attrs import define, field

from pocketbench.testing.phone.adbhardware import Hardware
from pocketbench.testing.phone.adbservices import DEVICE_TMP, shell_service, sync_service
from pocketbench.testing.phone.adbwire import Link, Stream

DEFAULT_PROPS: dict[str, str] = {
    "ro.product.manufacturer": "Pocketbench",
    "ro.product.model": "Loopback A25",
    "ro.product.name": "loopback",
    "ro.product.device": "loopback",
    "ro.soc.manufacturer": "Pocketbench",
    "ro.soc.model": "LB1280",
    "ro.board.platform": "loopback",
    "ro.hardware": "loopback",
    "ro.product.cpu.abi": "arm64-v8a" if platform.machine() == "aarch64" else "x86_64",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.build.fingerprint": "pocketbench/loopback/loopback:14/TEST/1:user/release-keys",
}


class TemperatureSequence:
    """Temperatures read one after another (one value per thermal read); the last repeats."""

    def __init__(self, values: Iterable[float], zone: str = "cpu-0") -> None:
        self.values = list(values)
        self.zone = zone
        self.reads = 0

    def __call__(self) -> dict[str, float]:
        value = self.values[min(self.reads, len(self.values) - 1)]
        self.reads += 1
        return {self.zone: value}


def falling(
    start: float, floor: float, step: float, *, first: Iterable[float] = ()
) -> TemperatureSequence:
    """``first`` readings, then ``start`` falling by ``step`` per read down to ``floor``."""
    values = list(first)
    t = start
    while t > floor:
        values.append(t)
        t -= step
    return TemperatureSequence([*values, floor])


@define(kw_only=True)
class Fixture:
    """What the loopback phone says about itself."""

    props: dict[str, str] = field(factory=lambda: dict(DEFAULT_PROPS))
    #: Called on every command that reads the thermal zones: zone type -> degrees C.
    thermal: Callable[[], dict[str, float]] = lambda: {"cpu-0": 35.0}
    #: ``dumpsys battery`` fields; None: the service is missing.
    battery: dict[str, object] | None = field(
        factory=lambda: {"level": 81, "temperature": 312, "status": 2, "USB powered": "true"}
    )
    #: Room left for pushes, bytes (None: unlimited); a push past it fails with ENOSPC,
    #: and ``df`` answers it (None: the host's own ``df``).
    free_bytes: int | None = None
    #: Tools that "are not installed" (``sha256sum`` ...): shims that exit 127.
    missing_tools: tuple[str, ...] = ()
    #: "device"; "unauthorized" (answers AUTH only); "silent" (never answers: offline).
    mode: str = "device"
    #: Served as /proc/cpuinfo when set (the arm64 phone's; see :mod:`.arm64`); else the host's.
    cpuinfo: str | None = None
    #: The phone refuses to execute pushed files: "noexec" (its /data is mounted
    #: noexec) or "selinux" (the policy denies it); None: it runs them.
    exec_refusal: str | None = None
    #: CPU clusters, core frequencies, a battery waveform (None: the host's own sysfs).
    hardware: Hardware | None = None


class TestAdbd:
    """The daemon; ``with TestAdbd(tmp_path) as d:`` then ``adb connect 127.0.0.1:{d.port}``."""

    __test__ = False  # not a pytest test class

    def __init__(self, root: Path, fixture: Fixture | None = None, *, port: int = 0) -> None:
        self.fixture = fixture or Fixture()
        self.root = Path(root)
        self.sandbox = self.root / "data-local-tmp"
        self.state = self.root / "state"
        self.path_map = {
            DEVICE_TMP: self.sandbox,
            "/sys/class/thermal": self.state / "thermal",
            "/sys/class/power_supply": self.state / "power_supply",
        }
        self.bytes_received = 0
        self.commands: list[str] = []
        self._free_bytes = self.fixture.free_bytes
        self.exec_refused = self.fixture.exec_refusal is not None
        if self.fixture.cpuinfo is not None:
            self.path_map["/proc/cpuinfo"] = self.state / "cpuinfo"
        self.path_map["/proc/mounts"] = self.state / "mounts"
        self._procs: list[subprocess.Popen] = []
        self._links: list[Link] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._setup_files()
        self.env = {
            "PATH": f"{self.state / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.sandbox),
            "TMPDIR": str(self.sandbox),
            "LANG": "C.UTF-8",
        }
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"adbd:{self.port}")
        if self.fixture.hardware is not None:
            self.fixture.hardware.install(self)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> TestAdbd:
        self._thread.start()
        return self

    def __enter__(self) -> TestAdbd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kill(self) -> None:
        """Vanish like a phone pulled off its cable: connections drop, processes live on."""
        # shutdown wakes the thread blocked in accept(); close alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
            link.sock.close()

    def close(self) -> None:
        """Kill, then stop every process the daemon started (and their groups)."""
        self.kill()
        if self.fixture.hardware is not None:
            self.fixture.hardware.close()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def _accept(self) -> None:
        banner = self._banner()
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = Link(sock, banner, self._service, self.fixture.mode)
            with self._lock:
                self._links.append(link)
            threading.Thread(target=link.serve, daemon=True).start()

    def _banner(self) -> bytes:
        props = self.fixture.props
        fields = [
            f"{k}={props.get(k, '')}"
            for k in ("ro.product.name", "ro.product.model", "ro.product.device")
        ]
        return (
            "device::" + ";".join(fields) + ";features=shell_v2,stat_v2,fixed_push_mkdir"
        ).encode()

    def _service(self, name: str) -> Callable[[Stream], None] | None:
        if name == "sync:":
            return sync_service(self)
        service, sep, command = name.partition(":")
        options = service.split(",")
        if not sep or options[0] != "shell":
            return None
        v2 = "v2" in options
        use_pty = "pty" in options or not v2 or (not command and "raw" not in options)
        return shell_service(self, command, v2=v2, use_pty=use_pty)

    @property
    def free_bytes(self) -> int | None:
        """Room left for pushes (see :attr:`Fixture.free_bytes`); settable while the phone runs."""
        return self._free_bytes

    @free_bytes.setter
    def free_bytes(self, value: int | None) -> None:
        self._free_bytes = value
        self._write_df()

    # -- what the services call (adbservices.Host) ---------------------------

    def on_command(self, command: str) -> None:
        with self._lock:
            self.commands.append(command)
        if "/sys/class/thermal" in command:
            self._write_thermal(self.fixture.thermal())
        if self.fixture.hardware is not None:
            self.fixture.hardware.on_command(command)

    def register(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(proc)

    def received(self, n: int) -> None:
        with self._lock:
            self.bytes_received += n

    # -- fixture files -------------------------------------------------------

    def _setup_files(self) -> None:
        self.sandbox.mkdir(parents=True, exist_ok=True)
        bin_dir = self.state / "bin"
        props_dir = self.state / "props"
        for d in (bin_dir, props_dir, self.state / "thermal", self.state / "power_supply"):
            d.mkdir(parents=True, exist_ok=True)
        props = self.fixture.props
        for key, value in props.items():
            (props_dir / key).write_text(value)
        (self.state / "props.txt").write_text(
            "".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items()))
        )
        battery = self.fixture.battery
        if battery is not None:
            lines = "".join(f"  {k}: {v}\n" for k, v in battery.items())
            (self.state / "battery.txt").write_text("Current Battery Service state:\n" + lines)
        if self.fixture.cpuinfo is not None:
            (self.state / "cpuinfo").write_text(self.fixture.cpuinfo)
        noexec = ",noexec" if self.fixture.exec_refusal == "noexec" else ""
        (self.state / "mounts").write_text(
            "/dev/root / ext4 ro,seclabel,relatime 0 0\n"
            f"/dev/block/dm-45 /data f2fs rw,lazytime,seclabel,nosuid,nodev{noexec},noatime 0 0\n"
        )
        q = shlex.quote
        scripts = {
            # Phones enforce SELinux; which rule refuses an exec is the fixture's choice.
            "getenforce": "echo Enforcing\n",
            "getprop": f"[ $# -eq 0 ] && exec cat {q(str(self.state / 'props.txt'))}\n"
            f'f={q(str(props_dir))}/"$1"; [ -f "$f" ] && cat "$f"; echo\n',
            "dumpsys": f"b={q(str(self.state / 'battery.txt'))}\n"
            '[ "$1" = battery ] && [ -f "$b" ] && exec cat "$b"\n'
            f'd={q(str(self.state / "dumpsys"))}/"$1".txt\n'
            '[ -n "$1" ] && [ -f "$d" ] && exec cat "$d"\n'
            'echo "Can\'t find service: $1" >&2; exit 1\n',
        }
        # df answers the fixture's free bytes (as toybox prints them), else the host's df.
        real_df = shutil.which("df") or "/bin/df"
        scripts["df"] = (
            f"f={q(str(self.state / 'df.txt'))}\n"
            '[ -f "$f" ] && exec cat "$f"\n'
            f'exec {q(real_df)} "$@"\n'
        )
        self._write_df()
        if self.exec_refused:
            # Pushed files never become executable, whatever chmod is asked: the
            # shell then answers "Permission denied" (126) exactly as on such a phone.
            scripts["chmod"] = "exit 0\n"
        scripts.update(
            {
                tool: f"echo '{tool}: not found' >&2; exit 127\n"
                for tool in self.fixture.missing_tools
            }
        )
        for tool, body in scripts.items():
            path = bin_dir / tool
            path.write_text("#!/bin/sh\n" + body)
            path.chmod(0o755)

    def _write_df(self) -> None:
        path = self.state / "df.txt"
        if self._free_bytes is None:
            path.unlink(missing_ok=True)
            return
        total = 112 * 2**20  # KiB: a 128 GB phone's /data
        avail = self._free_bytes // 1024
        used = max(0, total - avail)
        path.write_text(
            "Filesystem        1K-blocks      Used Available Use% Mounted on\n"
            f"/dev/block/dm-45 {total:10d} {used:9d} {avail:9d} {100 * used // total:3d}% /data\n"
        )

    def _write_thermal(self, temps: dict[str, float]) -> None:
        base = self.state / "thermal"
        shutil.rmtree(base, ignore_errors=True)
        for i, (kind, celsius) in enumerate(temps.items()):
            zone = base / f"thermal_zone{i}"
            zone.mkdir(parents=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text(f"{round(celsius * 1000)}\n")
