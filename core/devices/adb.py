"""Android phones over adb: adbutils, through a real adb server.

Addressing (see :func:`pocketbench.core.devices.open_device`): ``adb`` (the
only device attached), ``adb:SERIAL``, ``adb://HOST:PORT/SERIAL`` (a device
lab's shared adb server).  Commands run through the shell protocol v2
(separate stdout/stderr and a real exit code) under a small wrapper that
reports peak RSS and lets a run past its wall-clock timeout be killed on the
device (see :mod:`pocketbench.core.devices.android`), started through the
core's token launcher once it has been pushed (per-token times taken on the
phone, see :mod:`pocketbench.core.engine.tokenlauncher`).  Files go to
``/data/local/tmp/pocketbench`` and are not sent again when the device
already holds the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import secrets
import shlex
import stat
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import adbutils
import attrs
from adbutils.errors import AdbError

from pocketbench.core.api.errors import DeviceError, SetupError
from pocketbench.core.api.model import DeviceFacts, ProcessResult, Readings
from pocketbench.core.api.power import EnergyTrace, RunTrace
from pocketbench.core.devices import (
    adbsync,
    android,
    androidpower,
    androidstate,
    androidstorage,
    spawn,
)
from pocketbench.core.devices.adbserver import (
    DEFAULT_PORT,
    NO_DEVICE,
    Client,
    ensure_server,
    server_address,
    state_problem,
)
from pocketbench.core.devices.base import (
    Device,
    ProgressFn,
    RunSetup,
    TokenLauncher,
    active_runs,
)
from pocketbench.core.kit import cache

WORKDIR = "/data/local/tmp/pocketbench"
#: Shell text longer than this is pushed as a script file instead of sent in the OPEN.
_MAX_COMMAND = 60_000


class AdbDevice(Device):
    """An Android device behind an adb server.

    :param serial: the device's serial as ``adb devices`` lists it; None for
        the only device attached.
    :param host, port: the adb server (default: $ANDROID_ADB_SERVER_HOST/PORT,
        else 127.0.0.1:5037); a local server is started when none answers.
    :param name: how results name the device (default ``adb:SERIAL``, or
        ``adb://HOST:PORT/SERIAL`` with ``url_name``).
    :param workdir: where pushed files live on the device.
    :param rss_poll_s: how often the wrapper samples the program's peak RSS
        (VmHWM); 0 turns sampling (and the on-device backstop) off.
    """

    is_local = False
    needs_token_launcher = True

    def __init__(
        self,
        serial: str | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
        name: str | None = None,
        url_name: bool = False,
        workdir: str = WORKDIR,
        rss_poll_s: float = 0.25,
    ) -> None:
        self.host, self.port = server_address(host, port)
        ensure_server(self.host, self.port)
        self._client = Client(host=self.host, port=self.port)
        self.serial = self._resolve(serial)
        if name is None and url_name:
            shown = f"[{self.host}]" if ":" in self.host else self.host
            name = f"adb://{shown}:{self.port}/{self.serial}"
        self.name = name or f"adb:{self.serial}"
        self._workdir = workdir.rstrip("/") or WORKDIR
        self._rss_poll_s = rss_poll_s
        self._dev = adbutils.AdbDevice(self._client, serial=self.serial)
        self._facts: DeviceFacts | None = None
        self._workdir_ready = False
        self._digests = adbsync.DigestMemo()
        with self._guard("connecting"):
            features = set(self._dev.get_features().split(","))
        if "shell_v2" not in features:
            raise DeviceError(
                f"{self.name} is too old: pocketbench needs Android 7 or newer (adb shell protocol v2)"
            )
        self._push_mkdir = "fixed_push_mkdir" in features
        self._setup = RunSetup()
        self._battery: tuple[str, str] | None = None
        self._discharge_sign = 0
        #: The phone's energy meter lists power rails (ODPM), found by the probe.
        self._rails = False
        self._rails_problem = ""
        self._traces: list[tuple[tuple[str, ...], RunTrace]] = []
        self._launcher = TokenLauncher()

    # -- finding the device and naming its faults --------------------------------

    def _states(self) -> dict[str, str]:
        return {d.serial: d.state for d in self._client.list()}

    def _resolve(self, serial: str | None) -> str:
        try:
            states = self._states()
        except (AdbError, OSError) as exc:
            raise DeviceError(
                f"the adb server at {self.host}:{self.port} does not answer: {exc}"
            ) from exc
        if serial is None:
            if not states:
                raise DeviceError(NO_DEVICE)
            ready = [s for s, st in states.items() if st == "device"]
            if len(ready) == 1:
                return ready[0]
            listed = ", ".join(f"{s} ({st})" for s, st in sorted(states.items()))
            if not ready and len(states) == 1:
                only, state = next(iter(states.items()))
                raise DeviceError(state_problem(only, state))  # type: ignore[arg-type]
            if not ready:
                raise DeviceError(f"no usable device: {listed}; fix one and give adb:SERIAL")
            raise DeviceError(f"several devices attached: {listed}; choose one with adb:SERIAL")
        state = states.get(serial)
        if state is None:
            listed = ", ".join(sorted(states)) or "none"
            hint = (
                f"; for a network device run `adb connect {serial}` first" if ":" in serial else ""
            )
            raise DeviceError(
                f"no device {serial!r} at the adb server {self.host}:{self.port} (attached: {listed}){hint}"
            )
        problem = state_problem(serial, state)
        if problem:
            raise DeviceError(problem)
        return serial

    def _lost(self, action: str, exc: BaseException | str) -> DeviceError:
        """Why the device stopped answering, as one line that says what to do."""
        for attempt in range(3):
            try:
                state = self._states().get(self.serial)
            except (AdbError, OSError):
                return DeviceError(
                    f"{self.name}: the adb server at {self.host}:{self.port} went away while {action}: "
                    "start it again (`adb start-server`) and rerun to resume"
                )
            if state != "device" or attempt == 2:
                break
            time.sleep(0.3)  # the server may not have noticed the drop yet
        if state is None:
            return DeviceError(
                f"{self.name} disconnected while {action}: reconnect it"
                f"{f' (`adb connect {self.serial}`)' if ':' in self.serial else ''} and rerun to resume"
            )
        if state == "offline":
            return DeviceError(
                f"{self.name} went offline while {action}: reconnect it and rerun to resume"
            )
        if state == "unauthorized":
            return DeviceError(
                f"{self.name} became unauthorized while {action}: unlock it, accept the USB debugging prompt and rerun"
            )
        if state != "device":
            return DeviceError(
                f"{self.name} changed to state {state!r} while {action}: rerun once it is back"
            )
        return DeviceError(
            f"{self.name}: the adb connection dropped while {action} ({exc}); rerun to resume"
        )

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except DeviceError:
            raise
        except (AdbError, OSError, EOFError) as exc:
            raise self._lost(action, exc) from exc

    # -- the shell -------------------------------------------------------------

    def _open_shell(self, command: str, action: str) -> adbutils.AdbConnection:
        if len(command.encode()) > _MAX_COMMAND:
            raise DeviceError(f"a command of {len(command.encode())} bytes is too long for adb")
        with self._guard(action):
            c = self._dev.open_transport(timeout=15)
            try:
                c.send_command("shell,v2,raw:" + command)
                c.check_okay()
            except BaseException:
                c.close()
                raise
        return c

    def _stream(
        self,
        command: str,
        timeout: float,
        action: str,
        on_timeout: Callable[[], None] | None = None,
    ) -> tuple[int | None, bytes, bytes, bool]:
        """Run ``command``; return (exit code, stdout, stderr, timed out).

        Output is streamed into lists (never re-concatenated), and the limit
        is wall-clock: at the deadline ``on_timeout`` runs (it kills the
        process on the device) and the stream is drained for a few seconds
        to collect the tail of the output.
        """
        out: list[bytes] = []
        err: list[bytes] = []
        code: int | None = None
        timed_out = False
        deadline = time.monotonic() + timeout
        c = self._open_shell(command, action)
        sock = c.conn
        buf = bytearray()
        try:
            while code is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timed_out or on_timeout is None:
                        timed_out = True
                        break
                    timed_out = True
                    on_timeout()
                    deadline = time.monotonic() + 5.0
                    continue
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError as exc:
                    raise self._lost(action, exc) from exc
                if not chunk:
                    if timed_out:
                        break  # killed: the stream may end without an exit packet
                    raise self._lost(action, "the stream closed before the command ended")
                buf += chunk
                pos = 0
                while len(buf) - pos >= 5:
                    kind, length = struct.unpack_from("<BI", buf, pos)
                    if len(buf) - pos - 5 < length:
                        break
                    data = bytes(buf[pos + 5 : pos + 5 + length])
                    pos += 5 + length
                    if kind == 1:
                        out.append(data)
                    elif kind == 2:
                        err.append(data)
                    elif kind == 3 and data:
                        code = data[0]
                del buf[:pos]
        finally:
            c.close()
        return code, b"".join(out), b"".join(err), timed_out

    def _sh(self, script: str, action: str, timeout: float = 60.0) -> str:
        """Run one of our own scripts; its stdout."""
        code, out, err, timed_out = self._stream(script, timeout, action)
        if timed_out:
            raise DeviceError(
                f"{self.name} did not answer within {timeout:g} s while {action}; check it and rerun"
            )
        return out.decode("utf-8", errors="replace")

    def _ensure_workdir(self) -> None:
        if not self._workdir_ready:
            q = shlex.quote(self._workdir)
            out = self._sh(
                f"mkdir -p {q} && [ -w {q} ] || echo unwritable", "creating the working directory"
            )
            if "unwritable" in out:
                raise SetupError(
                    f"cannot write to {self._workdir} on {self.name}: choose another working directory"
                )
            self._workdir_ready = True

    # -- Device ------------------------------------------------------------------

    def workdir(self) -> str:
        return self._workdir

    def facts(self) -> DeviceFacts:
        if self._facts is None:
            text = self._sh(android.FACTS_SCRIPT, "reading device facts")
            facts = android.parse_facts(self.name, text)
            serialno = android.parse_getprop(android.parse_sections(text).get("props", [])).get(
                "ro.serialno"
            )
            extra = {
                **facts.extra,
                "serial": self.serial,
                **({"serialno": serialno} if serialno else {}),
            }
            if (self.host, self.port) != ("127.0.0.1", DEFAULT_PORT):
                extra["adb_server"] = f"{self.host}:{self.port}"
            self._facts = attrs.evolve(facts, extra=extra)
        return self._facts

    def readings(self) -> Readings:
        script = androidstate.STATE_SCRIPT + "\n" + android.READINGS_SCRIPT
        text = self._sh(script, "reading temperatures")
        state = androidstate.parse_state(text.splitlines())
        return Readings(time=time.time(), **android.parse_readings(text), **state)  # type: ignore[arg-type]

    # -- placement and energy (see androidpower) ----------------------------------

    def check_setup(self, setup: RunSetup) -> list[str]:
        from pocketbench.core.api.placement import format_list, mask

        if not setup.active:
            return []
        m = mask(setup.cores) if setup.cores else None
        text = self._sh(
            androidpower.probe_script(m, setup.energy), "checking taskset and the battery"
        )
        probe = androidpower.parse_probe(text, m is not None)
        cores = format_list(setup.cores)
        if probe.taskset == "missing":
            raise SetupError(
                f"--cores {cores}: {self.name} has no taskset (toybox's); run without --cores"
            )
        if probe.taskset == "refused":
            raise SetupError(
                f"--cores {cores}: taskset on {self.name} refused mask {m}: {probe.detail};"
                " check the cores are online (`adb shell cat /sys/devices/system/cpu/online`)"
            )
        if probe.taskset == "ok" and probe.detail != cores:
            raise SetupError(
                f"--cores {cores}: taskset on {self.name} ran, but the process was allowed cores"
                f" {probe.detail}; the device does not honour the mask"
            )
        if setup.energy:
            if probe.battery is None:
                raise SetupError(
                    f"--energy: {self.name} has no readable battery current (current_now under"
                    " /sys/class/power_supply); run without --energy"
                )
            if self.readings().charging:
                raise SetupError(
                    f"--energy: {self.name} is charging, and battery figures mean nothing while it"
                    " is plugged in; measure unplugged over wireless adb (`adb tcpip 5555`, unplug,"
                    " `adb connect PHONE_IP:5555`) and rerun"
                )
            self._battery = probe.battery
            self._rails = bool(probe.rails)
            self._rails_problem = f"not available on this phone: {probe.rails_problem}"
            if not probe.rails:
                return [f"--energy: per-rail energy {self._rails_problem}"]
        return []

    def use_setup(self, setup: RunSetup) -> None:
        self._setup = setup
        self._traces.clear()

    def use_token_launcher(self, launcher: TokenLauncher) -> None:
        self._launcher = launcher

    def take_trace(self, argv: Sequence[str]) -> RunTrace | None:
        wanted = tuple(str(a) for a in argv)
        return next((t for a, t in self._traces if a == wanted), None)

    def _read_trace(self, tracefile: str, period_s: float) -> RunTrace:
        q = shlex.quote(tracefile)
        text = self._sh(f"cat {q} 2>/dev/null; rm -f {q}", "reading the run's samples")
        trace = androidpower.parse_trace(
            text,
            energy=self._setup.energy,
            period_s=period_s,
            known_sign=self._discharge_sign,
            rails=self._rails,
        )
        if trace.energy is not None and not self._rails:
            trace = attrs.evolve(
                trace, energy=attrs.evolve(trace.energy, rails_problem=self._rails_problem)
            )
        if trace.energy is not None and trace.energy.ok and not self._discharge_sign:
            self._discharge_sign = trace.energy.discharge_sign
        return trace

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ProcessResult:
        argv = tuple(str(a) for a in argv)
        self._ensure_workdir()
        token = secrets.token_hex(8)
        pidfile = f"{self._workdir}/.run-{token}.pid"
        where = posixpath.join(self._workdir, cwd) if cwd else self._workdir
        setup = self._setup
        poll_s = self._rss_poll_s
        tracing: dict[str, object] = {}
        if setup.active:
            from pocketbench.core.api.placement import mask

            poll_s = min(poll_s or androidpower.ENERGY_POLL_S, androidpower.ENERGY_POLL_S)
            tracing["tracefile"] = f"{self._workdir}/.trace-{token}"
            if setup.cores:
                tracing["prefix"] = ("taskset", mask(setup.cores))
            if setup.energy and self._battery is not None:
                tracing["sample"] = androidpower.sample_line(self._battery)
                tracing["bracket"] = androidpower.bracket_lines(
                    str(tracing["tracefile"]), self._rails
                )
        # Per-token times: the run starts through the launcher pushed beside the runtime.
        launcher = self._launcher if setup.token_times else TokenLauncher()
        timing = (launcher.path, f"{self._workdir}/.arrivals-{token}") if launcher.path else None
        options = dict(cwd=where, env=env, pidfile=pidfile, token=token, launcher=timing,
                       poll_s=poll_s, backstop_s=int(timeout) + 60, **tracing)  # fmt: skip
        script = android.wrapper_script(argv, **options)
        if len(script.encode()) > _MAX_COMMAND:
            # adb requests are limited to 64 KiB: long arguments travel as files.
            argfiles = {
                i: f"{self._workdir}/.arg-{token}-{i}"
                for i, a in enumerate(argv)
                if i and len(a.encode()) > 256
            }
            for i, path in argfiles.items():
                data = argv[i].encode()
                self._send(io.BytesIO(data), path, size=len(data), mtime=int(time.time()),
                           mode=0o600, label="a long argument")  # fmt: skip
            script = android.wrapper_script(argv, argfiles=argfiles, **options)
        kill_report: list[str] = []

        def kill() -> None:
            kill_report.append(
                self._sh(
                    android.kill_script(pidfile, timing[1:] if timing else ()),
                    "stopping a run past its timeout",
                ).strip()
            )

        start = time.perf_counter()
        active_runs[token] = kill  # a signal in the main thread stops this run too
        try:
            code, out, err, timed_out = self._stream(
                script, timeout, f"running {argv[0]}", on_timeout=kill
            )
        except KeyboardInterrupt:
            # Ctrl-C, SIGTERM, SIGHUP: stop the run on the device too, not only our end.
            with contextlib.suppress(Exception):
                kill()
            raise
        finally:
            active_runs.pop(token, None)
        wall = time.perf_counter() - start
        if tracing:
            try:
                trace = self._read_trace(str(tracing["tracefile"]), poll_s)
            except DeviceError as exc:  # the run itself is kept; its samples are lost
                trace = RunTrace(energy=EnergyTrace(source="battery", problem=str(exc)))
            self._traces.append((argv, trace))
        err, peak = android.split_rss(err, token)
        err, arrivals, own = self._arrivals(err, token, timing is not None)
        if timing is not None:
            # The wrapper sampled the launcher; the launcher's wait4 knows the runtime's own peak.
            peak = own[0] if own else None
        stderr = err.decode("utf-8", errors="replace")
        if kill_report and kill_report[-1] == "alive":
            stderr += f"\npocketbench: the process of {argv[0]} survived SIGKILL on {self.name}\n"
        return ProcessResult(
            argv=argv,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=stderr,
            exit_code=None if timed_out else code,
            wall_s=wall,
            timed_out=timed_out,
            peak_rss_bytes=peak,
            cpu_s=own[1] if own else None,
            arrivals=arrivals,
            arrivals_problem=launcher.problem if setup.token_times and not timing else "",
        )

    @staticmethod
    def _arrivals(
        err: bytes, token: str, timed: bool
    ) -> tuple[bytes, tuple[tuple[float, int], ...] | None, tuple[int, float] | None]:
        """(stderr without the launcher's block, its arrivals, the runtime's (peak RSS, CPU s))."""
        if not timed:
            return err, None, None
        err, block = android.split_arrivals(err, token)
        own = spawn.read_rusage(block) if block is not None else None
        # Without its closing line the launcher did not see the runtime end: no figures.
        return err, (spawn.read_arrivals(block) if block and own else None), own

    def push(self, local: Path, name: str | None = None, progress: ProgressFn | None = None) -> str:
        local = Path(local)
        if not local.is_file():
            raise SetupError(f"{local}: no such file; check the path")
        try:
            rel = android.safe_name(local.name if name is None else name)
        except ValueError as exc:
            raise SetupError(f"cannot push {local.name} as {name!r}: {exc}") from exc
        remote = f"{self._workdir}/{rel}"
        st = local.stat()
        size, mtime = st.st_size, int(st.st_mtime)
        if progress is None and self.push_display is not None:
            progress = self.push_display(local.name, size)
        if self._holds(local, remote, size):
            if progress:
                progress(size, size)
            return remote
        if not self._push_mkdir:
            self._sh(f"mkdir -p {shlex.quote(posixpath.dirname(remote))}", "creating a directory")
        mode = stat.S_IMODE(st.st_mode) | 0o644  # executables stay executable
        with open(local, "rb") as f:
            self._send(
                f, remote, size=size, mtime=mtime, mode=mode, progress=progress, label=local.name
            )
        self._digests.put(
            self._digest_key(remote, size, mtime), ("sha256", cache.file_digest(local))
        )
        return remote

    def free_storage(self) -> int:
        self._ensure_workdir()
        text = self._sh(androidstorage.df_script(self._workdir), "reading its free storage")
        try:
            return androidstorage.parse_df(text)
        except ValueError as exc:
            raise SetupError(
                f"cannot read the free storage of {self._workdir} on {self.name}: {exc}"
            ) from None

    def holds(self, local: Path, name: str) -> bool:
        local = Path(local)
        try:
            remote = f"{self._workdir}/{android.safe_name(name)}"
        except ValueError:
            return False  # push says why
        return local.is_file() and self._holds(local, remote, local.stat().st_size)

    def close(self) -> None:
        pass  # adbutils opens one connection per request; nothing stays open

    # -- files -------------------------------------------------------------------

    def _holds(self, local: Path, remote: str, size: int) -> bool:
        """Does the device hold ``local``'s bytes at ``remote``?  Size first, then a hash."""
        with self._sync("checking a file on the device") as c:
            remote_stat = adbsync.stat(c, remote)
        if remote_stat is None or remote_stat[1] != size or not stat.S_ISREG(remote_stat[0]):
            return False
        key = self._digest_key(remote, size, remote_stat[2])
        known = self._digests.get(key)
        if known is None:
            script = android.digest_script(remote)
            known = android.parse_digest(self._sh(script, "hashing a file on the device", 600))
            if known is None:
                return False  # no hashing tool on the device: send it again
            self._digests.put(key, known)
        algo, hexdigest = known
        return hexdigest == adbsync.local_digest(local, algo)

    def _digest_key(self, remote: str, size: int, mtime: int) -> str:
        device_id = self.facts().extra.get("serialno") or self.serial
        return adbsync.DigestMemo.key(device_id, remote, size, mtime)

    @contextlib.contextmanager
    def _sync(self, action: str) -> Iterator[adbutils.AdbConnection]:
        """A sync stream; protocol faults inside it are reported as device faults."""
        with self._guard(action):
            c = self._dev.open_transport(timeout=30)
            try:
                c.send_command("sync:")
                c.check_okay()
                yield c
            except adbsync.UnexpectedReply as exc:
                raise self._lost(action, exc) from exc
            finally:
                c.close()

    def _send(
        self, source: BinaryIO, remote: str, *, size: int, mtime: int, mode: int,
        progress: ProgressFn | None = None, label: str,
    ) -> None:  # fmt: skip
        try:
            with self._sync(f"pushing {label}") as c:
                adbsync.send(
                    c, source, remote, size=size, mtime=mtime, mode=mode, progress=progress
                )
        except adbsync.SyncFailed as exc:
            reason = str(exc)
            hint = (
                "free space on the device"
                if "space" in reason.lower()
                else "check the device's storage"
            )
            raise SetupError(
                f"pushing {label} to {self.name} failed: {reason}; {hint} and rerun"
            ) from exc


def describe_attached(
    host: str | None = None, port: int | None = None
) -> list[tuple[str, str, DeviceFacts | None, str | None]]:
    """For ``bench devices``: ``(serial, state, facts, problem)`` of every device the server lists.

    ``facts`` is None (and ``problem`` says what to do) for a device that is
    not usable, including one that fails while its facts are read.
    """
    from pocketbench.core.devices.adbserver import list_devices

    rows: list[tuple[str, str, DeviceFacts | None, str | None]] = []
    for serial, state in list_devices(host, port):
        problem = state_problem(serial, state)
        facts = None
        if problem is None:
            try:
                facts = AdbDevice(serial, host=host, port=port).facts()
            except DeviceError as exc:
                problem = str(exc)
        rows.append((serial, state, facts, problem))
    return rows
