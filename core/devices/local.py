"""The local host as a device: the embedded default."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.model import DeviceFacts, ProcessResult, Readings
from pocketbench.core.api.power import RunTrace
from pocketbench.core.devices import rapl, spawn
from pocketbench.core.devices.base import Device, ProgressFn, RunSetup, active_runs


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _meminfo(key: str) -> int | None:
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return None


def host_temperatures() -> dict[str, float]:
    """Thermal zones this host exposes (often none in a VM)."""
    temps: dict[str, float] = {}
    base = Path("/sys/class/thermal")
    for zone in sorted(base.glob("thermal_zone*")) if base.exists() else []:
        raw = _read(str(zone / "temp"))
        if not raw or not raw.strip().lstrip("-").isdigit():
            continue
        kind = (_read(str(zone / "type")) or zone.name).strip()
        temps[f"{zone.name}:{kind}"] = int(raw.strip()) / 1000.0
    return temps


def cpu_state() -> dict[str, object]:
    """scaling_cur_freq and scaling_governor of each core (empty where cpufreq is absent)."""
    freqs, governors = [], []
    for n in range(os.cpu_count() or 0):
        base = f"/sys/devices/system/cpu/cpu{n}/cpufreq/"
        raw = (_read(base + "scaling_cur_freq") or "").strip()
        freqs.append(int(raw) if raw.isdigit() else 0)
        governors.append((_read(base + "scaling_governor") or "").strip())
    return {
        "cur_freqs_khz": tuple(freqs) if any(freqs) else (),
        "governors": tuple(governors) if any(governors) else (),
    }


class LocalDevice(Device):
    """Runs commands on this host with a wall-clock timeout and peak RSS.

    ``--cores`` pins the runtime with ``sched_setaffinity`` (in the child,
    before it starts, so every thread it creates inherits the mask);
    ``--energy`` reads RAPL around each run where it is readable.
    """

    name = "local"
    is_local = True
    _setup = RunSetup()
    _traces: list[tuple[tuple[str, ...], RunTrace]]
    _zones: list[rapl.Zone]

    def check_setup(self, setup: RunSetup) -> list[str]:
        notes: list[str] = []
        allowed = os.sched_getaffinity(0)
        outside = [c for c in setup.cores if c not in allowed]
        if outside:
            raise SetupError(
                f"--cores: this process may not run on core(s) {outside} of this host"
                f" (allowed: {sorted(allowed)}); choose among those"
            )
        self._zones = rapl.zones() if setup.energy else []
        if setup.energy and not self._zones:
            notes.append(f"--energy: {rapl.NOT_AVAILABLE.problem}; speed is measured as usual")
        return notes

    def use_setup(self, setup: RunSetup) -> None:
        self._setup = setup
        self._traces = []
        if setup.energy and not hasattr(self, "_zones"):
            self._zones = rapl.zones()

    def take_trace(self, argv: Sequence[str]) -> RunTrace | None:
        wanted = tuple(str(a) for a in argv)
        return next((t for a, t in getattr(self, "_traces", []) if a == wanted), None)

    def facts(self) -> DeviceFacts:
        cpu = ""
        for line in (_read("/proc/cpuinfo") or "").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        freqs = []
        for n in range(os.cpu_count() or 0):
            raw = _read(f"/sys/devices/system/cpu/cpu{n}/cpufreq/cpuinfo_max_freq")
            if raw and raw.strip().isdigit():
                freqs.append(int(raw.strip()))
        return DeviceFacts(
            name=self.name,
            kind="local",
            model=platform.node(),
            soc=cpu or platform.processor(),
            abi=platform.machine(),
            os=f"{platform.system()} {platform.release()}",
            cores=os.cpu_count() or 0,
            max_freqs_khz=tuple(freqs),
            ram_bytes=_meminfo("MemTotal") or 0,
            extra={"python": platform.python_version()},
        )

    def readings(self) -> Readings:
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = None
        return Readings(
            time=time.time(),
            temperatures_c=host_temperatures(),
            free_mem_bytes=_meminfo("MemAvailable"),
            load_avg=load,
            **cpu_state(),  # type: ignore[arg-type]
        )

    def _record_allowed(self, pid: int, argv: tuple[str, ...]) -> None:
        allowed = None
        for line in (_read(f"/proc/{pid}/status") or "").splitlines():
            if line.startswith("Cpus_allowed_list:"):
                allowed = line.split(":", 1)[1].strip()
        energy = (
            None if not self._setup.energy or getattr(self, "_zones", []) else rapl.NOT_AVAILABLE
        )
        self._traces.append((argv, RunTrace(cpus_allowed=allowed, energy=energy)))

    def push(self, local: Path, name: str | None = None, progress: ProgressFn | None = None) -> str:
        if not Path(local).exists():
            raise SetupError(f"{local}: no such file; check the path")
        return str(local)

    def workdir(self) -> str:
        return os.getcwd()

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ProcessResult:
        argv = tuple(str(a) for a in argv)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        # Output goes to files, not pipes: a chatty runtime can never block on
        # a full pipe, and nothing in this process competes with it for CPU.
        # (With token times, the launcher beside the runtime reads its stdout
        # from a pipe and passes it on to the file as it comes.)
        cores = set(self._setup.cores)
        zones = getattr(self, "_zones", []) if self._setup.energy else []
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            tempfile.TemporaryFile() as arrivals,
        ):
            start = time.perf_counter()
            first = rapl.read(zones) if zones else None
            report_r, report_w = os.pipe()
            arrivals_fd = arrivals.fileno() if self._setup.token_times else -1
            try:
                # The launcher reports the command's own peak RSS and, asked,
                # when each piece of its stdout arrived (see spawn.py).
                proc = subprocess.Popen(
                    spawn.launcher_argv(argv, report_w, arrivals_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                    pass_fds=(report_w,) if arrivals_fd < 0 else (report_w, arrivals_fd),
                    # Before exec: the launcher, the runtime it starts and all their threads are pinned.
                    preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                os.close(report_r)
                return ProcessResult(
                    argv=argv,
                    stdout="",
                    stderr=f"cannot start {argv[0]}: {getattr(exc, 'strerror', None) or exc}",
                    exit_code=127,
                    wall_s=0.0,
                )
            finally:
                os.close(report_w)
            status: dict[str, object] = {}
            if self._setup.active:
                self._record_allowed(proc.pid, argv)

            def reap() -> None:
                os.wait4(proc.pid, 0)
                status["end"] = time.perf_counter()
                status["report"] = spawn.read_report(report_r)
                os.close(report_r)

            waiter = threading.Thread(target=reap, daemon=True)
            waiter.start()
            active_runs[waiter] = lambda: _kill_group(proc.pid)
            try:
                waiter.join(timeout)
            except BaseException:
                # A signal reaches only us (the run has its own session): stop it too.
                _kill_group(proc.pid)
                raise
            finally:
                active_runs.pop(waiter, None)
            timed_out = waiter.is_alive()
            if timed_out:
                _kill_group(proc.pid)
                waiter.join(10)
            end = status.get("end", time.perf_counter())
            if first is not None and self._traces:
                self._traces[-1] = (argv, _with_rapl(self._traces[-1][1], zones, first))
            report = status.get("report")
            code: int | None = None
            if isinstance(report, spawn.Report):
                code = os.waitstatus_to_exitcode(report.status)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", errors="replace")
            stderr = err.read().decode("utf-8", errors="replace")
            arrivals.seek(0)
            pieces = spawn.read_arrivals(arrivals.read()) if arrivals_fd >= 0 else None
        if stderr.startswith(spawn.EXEC_ERROR):
            reason = stderr[len(spawn.EXEC_ERROR) :].strip().partition(" ")[2]
            stderr = f"cannot start {argv[0]}: {reason}"
        measured = report if isinstance(report, spawn.Report) else None
        return ProcessResult(
            argv=argv,
            stdout=stdout,
            stderr=stderr,
            exit_code=None if timed_out else code,
            wall_s=float(end) - start,  # type: ignore[arg-type]
            timed_out=timed_out,
            peak_rss_bytes=measured.peak_rss_bytes if measured else None,
            cpu_s=measured.cpu_s if measured else None,
            arrivals=pieces if measured else None,
        )


def _with_rapl(trace: RunTrace, zones: list[rapl.Zone], first: tuple[float, ...]) -> RunTrace:
    """``trace`` with the RAPL energy since ``first``."""
    import attrs

    return attrs.evolve(trace, energy=rapl.trace(zones, first, rapl.read(zones)))


def _kill_group(pid: int) -> None:
    """Stop a timed-out run and everything it started."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
