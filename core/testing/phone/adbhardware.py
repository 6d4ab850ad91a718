"""The loopback phone's hardware: CPU clusters, core frequencies, a battery, thermal status.

A :class:`Hardware` in :attr:`Fixture.hardware <pocketbench.testing.phone.adbd.Fixture>`
makes the daemon serve fake sysfs files under ``/sys/devices/system/cpu``
and ``/sys/class/power_supply/battery`` (mapped into its state folder like
the thermal zones), ``dumpsys thermalservice``, and toybox's ``taskset``.

The battery follows a known waveform on the host's ``CLOCK_BOOTTIME`` (the
clock ``/proc/uptime`` reads): ``idle_ma`` plus ``load_ma`` while a run is in
progress (the run wrapper's pid file exists), plus a sine ripple; the
voltage sags with the current.  A thread rewrites the files every few
milliseconds and logs every value it served, so a test can integrate
exactly what the phone said (:meth:`Battery.served_joules`).  A runtime that
writes a phase's name to ``.phase`` in its working directory draws
``Battery.phase_ma`` more in that phase (prefill and decode draw differently
on a real phone).  :class:`Rail` s make ``dumpsys`` of the power-stats HAL
answer with an energy meter in the HAL's own format, whose cumulative
counters grow by ``idle_mw`` always and ``load_mw`` more while a run is in
progress (:meth:`Hardware.loaded_seconds` says for how long).  Affinity is
real: ``taskset`` is the host's toybox, so a placement test can only use
cores this host has.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Protocol

from attrs import define, field, frozen


class _Fixture(Protocol):
    missing_tools: tuple[str, ...]


class Daemon(Protocol):
    """What the hardware needs of the daemon it is installed in.

    :class:`~pocketbench.testing.phone.adbd.TestAdbd` is one; named by its
    shape because the daemon imports this module to build its hardware.
    """

    state: Path
    sandbox: Path
    path_map: dict[str, Path]
    fixture: _Fixture


CPU_SYSFS = "/sys/devices/system/cpu"
#: Seconds between rewrites of the battery files.
TICK_S = 0.004


def boottime() -> float:
    """The clock of the phone's ``/proc/uptime`` (this host's, for the loopback phone)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


@define(kw_only=True)
class Battery:
    """A battery gauge whose current follows a known waveform (all switches live)."""

    idle_ma: float = 300.0
    load_ma: float = 700.0
    ripple_ma: float = 100.0
    period_s: float = 1.3
    volts: float = 3.9
    #: Volts lost per ampere drawn.
    sag_v_per_a: float = 0.1
    #: "uA" (the kernel's documented unit) or "mA" (what some gauges give).
    unit: str = "uA"
    #: The sign current_now has while discharging (Pixels: negative; many others positive).
    discharge_sign: int = 1
    #: Plugged in: status "Charging" and current flowing into the battery.
    charging: bool = False
    #: False: no current_now file (a gauge without a readable current).
    current_readable: bool = True
    #: The current file vanishes this many seconds after a run starts (None: never).
    stops_after_s: float | None = None
    #: The charger is plugged in this many seconds after a run starts (None: never).
    plugs_in_after_s: float | None = None
    #: Extra mA while the runtime's ``.phase`` file names the phase ("prompt": 800.0 ...).
    phase_ma: dict[str, float] = field(factory=dict)
    #: (time, amperes drawn, volts) of every value served, in order.
    served: list[tuple[float, float, float]] = field(factory=list)

    def amps(self, t: float, loaded: bool, phase: str = "") -> float:
        ma = self.idle_ma + (self.load_ma if loaded else 0.0) + self.phase_ma.get(phase, 0.0)
        return (ma + self.ripple_ma * math.sin(2 * math.pi * t / self.period_s)) / 1000.0

    def served_joules(self, start: float, end: float) -> float:
        """The exact energy of the values served between ``start`` and ``end``."""
        total = 0.0
        log = self.served
        for (t0, a, v), (t1, _, _) in zip(log, [*log[1:], (math.inf, 0.0, 0.0)]):
            lo, hi = max(t0, start), min(t1, end)
            if hi > lo:
                total += a * v * (hi - lo)
        return total


@frozen
class Rail:
    """One on-device power monitor channel (ODPM) of the power-stats HAL."""

    name: str
    subsystem: str
    #: Power drawn always, and more while a run is in progress, milliwatts.
    idle_mw: float = 0.0
    load_mw: float = 0.0


#: The AIDL instance ``dumpsys`` is asked for, and its file in the fixture's dumpsys folder.
RAILS_SERVICE = "android.hardware.power.stats.IPowerStats/default"


@define(kw_only=True)
class Hardware:
    """CPU clusters and a battery for the loopback phone."""

    #: cpuinfo_max_freq of each core, kHz (distinct values make clusters).
    max_freqs_khz: tuple[int, ...] = (1_800_000, 2_400_000)
    governor: str = "schedutil"
    #: Each run started lowers every core's current frequency by this fraction of its maximum.
    freq_drop_per_run: float = 0.0
    #: Android's thermal status in ``dumpsys thermalservice`` (None: the service is missing).
    thermal_status: int | None = 0
    battery: Battery | None = field(factory=Battery)
    #: Power rails served by ``dumpsys`` of :data:`RAILS_SERVICE` (empty: no such service).
    rails: tuple[Rail, ...] = ()
    #: Served instead of the rails' dump: the service refuses (e.g. a permission denial).
    rails_refusal: str | None = None
    #: [start, end] (boot-clock seconds) of every stretch with a run in progress.
    loads: list[list[float]] = field(factory=list)
    _counters_uws: dict[str, float] = field(factory=dict)
    _last_tick: float | None = None
    _running: bool = False
    #: The longest pause between two rewrites of the rails' file (a busy host delays the
    #: thread): how stale a counter the phone served can be.
    max_tick_gap_s: float = 0.0
    #: Runs started so far (counted from the wrapper commands the daemon ran).
    runs_started: int = 0
    _stop: threading.Event = field(factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu: Path = Path()
    _daemon: Daemon | None = None

    # -- wiring into the daemon ------------------------------------------------

    def install(self, daemon: Daemon) -> None:
        state = daemon.state
        cpu = state / "cpu"
        self._cpu = cpu
        self._daemon = daemon
        daemon.path_map[CPU_SYSFS] = cpu
        n = len(self.max_freqs_khz)
        (cpu).mkdir(parents=True, exist_ok=True)
        _write(cpu / "possible", f"0-{n - 1}\n")
        _write(cpu / "online", f"0-{n - 1}\n")
        for i, freq in enumerate(self.max_freqs_khz):
            d = cpu / f"cpu{i}" / "cpufreq"
            d.mkdir(parents=True, exist_ok=True)
            _write(d / "cpuinfo_max_freq", f"{freq}\n")
            _write(d / "scaling_governor", f"{self.governor}\n")
        self._write_freqs()
        dumps = state / "dumpsys"
        dumps.mkdir(exist_ok=True)
        if self.thermal_status is not None:
            _write(
                dumps / "thermalservice.txt",
                "IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 0\n"
                f"Thermal Status: {self.thermal_status}\nCached temperatures:\n"
                "\tTemperature{mValue=35.0, mType=0, mName=cpu-0, mStatus=0}\nHAL Ready: true\n",
            )
        toybox = shutil.which("toybox")
        if toybox and "taskset" not in daemon.fixture.missing_tools:
            link = state / "bin" / "taskset"
            with contextlib.suppress(FileExistsError):
                link.symlink_to(toybox)
        if self.rails or self.rails_refusal is not None:
            (dumps / RAILS_SERVICE).parent.mkdir(parents=True, exist_ok=True)
            self._counters_uws = {r.name: 1e9 * (i + 1) for i, r in enumerate(self.rails)}
        if self.rails_refusal is not None:
            _write(dumps / f"{RAILS_SERVICE}.txt", self.rails_refusal + "\n")
        if self.battery is not None or self.rails:
            if self.battery is not None:
                (state / "power_supply" / "battery").mkdir(parents=True, exist_ok=True)
            self._tick()
            self._thread = threading.Thread(target=self._run, daemon=True, name="battery")
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def on_command(self, command: str) -> None:
        if "/.run-" in command and "kill -s TERM" not in command:
            self.runs_started += 1
        if CPU_SYSFS in command:
            self._write_freqs()

    # -- files ---------------------------------------------------------------

    def _write_freqs(self) -> None:
        scale = max(0.5, 1.0 - self.freq_drop_per_run * self.runs_started)
        for i, freq in enumerate(self.max_freqs_khz):
            _write(self._cpu / f"cpu{i}" / "cpufreq" / "scaling_cur_freq", f"{int(freq * scale)}\n")

    def loaded_seconds(self, start: float, end: float) -> float:
        """How long a run was in progress between ``start`` and ``end`` (boot clock)."""
        now = boottime()
        return sum(max(0.0, min(b if b >= a else now, end) - max(a, start)) for a, b in self.loads)

    def _phase(self) -> str:
        assert self._daemon is not None
        for path in self._daemon.sandbox.glob("*/.phase"):
            with contextlib.suppress(OSError):
                return path.read_text().strip()
        return ""

    def _write_rails(self, now: float, loaded: bool) -> None:
        assert self._daemon is not None
        last, self._last_tick = self._last_tick, now
        if last is not None:
            self.max_tick_gap_s = max(self.max_tick_gap_s, now - last)
            for r in self.rails:
                mw = r.idle_mw + (r.load_mw if self._running else 0.0)
                self._counters_uws[r.name] += mw * (now - last) * 1000
        self._running = loaded
        # The HAL's own lines: "  %32s   %14.2f mWs" of "[NAME]:SUBSYSTEM" (Pixel's PowerStatsAidl).
        lines = [
            "",
            "============= PowerStats HAL 2.0 state residencies ==============",
            "========== End of PowerStats HAL 2.0 state residencies ==========",
            "",
            "============= PowerStats HAL 2.0 energy consumers ==============",
            "CPU_CLUSTER  :        4242.00 mWs",
            "========== End of PowerStats HAL 2.0 energy consumers ==========",
            "",
            "============= PowerStats HAL 2.0 energy meter ==============",
            f"  {'Channel':>32}   {'Cumulative Energy':>18}",
            *(
                f"  {f'[{r.name}]:{r.subsystem}':>32}   {self._counters_uws[r.name] / 1000:14.2f} mWs"
                for r in self.rails
            ),
            "========== End of PowerStats HAL 2.0 energy meter ==========",
        ]
        _write(self._daemon.state / "dumpsys" / f"{RAILS_SERVICE}.txt", "\n".join(lines) + "\n")

    def _loaded(self) -> float | None:
        """When the run in progress started (its pid file's age), or None when idle."""
        assert self._daemon is not None
        for pidfile in self._daemon.sandbox.glob("*/.run-*.pid"):
            with contextlib.suppress(OSError):
                return pidfile.stat().st_mtime
        return None

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._tick()

    def _tick(self) -> None:
        assert self._daemon is not None
        now = boottime()
        started = self._loaded()
        if started is not None and (not self.loads or self.loads[-1][1] >= self.loads[-1][0]):
            self.loads.append([now, -1.0])  # end < start: still in progress
        elif started is None and self.loads and self.loads[-1][1] < self.loads[-1][0]:
            self.loads[-1][1] = now
        if self.rails:
            self._write_rails(now, started is not None)
        if self.battery is not None:
            self._tick_battery(now, started)

    def _tick_battery(self, now: float, started: float | None) -> None:
        b = self.battery
        assert b is not None
        assert self._daemon is not None
        d = self._daemon.state / "power_supply" / "battery"
        amps = b.amps(now, started is not None, self._phase() if b.phase_ma else "")
        volts = b.volts - b.sag_v_per_a * amps
        stopped = (
            b.stops_after_s is not None
            and started is not None
            and time.time() - started > b.stops_after_s
        )
        if b.plugs_in_after_s is not None and started is not None:
            b.charging = b.charging or time.time() - started > b.plugs_in_after_s
        flowing = -amps if b.charging else amps
        raw = flowing * b.discharge_sign * (1e6 if b.unit == "uA" else 1e3)
        if b.current_readable and not stopped:
            _write(d / "current_now", f"{int(raw)}\n")
        else:
            with contextlib.suppress(FileNotFoundError):
                (d / "current_now").unlink()
        _write(d / "voltage_now", f"{int(volts * 1e6)}\n")
        _write(d / "status", "Charging\n" if b.charging else "Discharging\n")
        _write(d / "capacity", "81\n")
        _write(d / "temp", "312\n")
        _write(d / "type", "Battery\n")
        if not b.served or b.served[-1][1:] != (amps, volts):
            b.served.append((now, amps, volts))


def _write(path: Path, text: str) -> None:
    """Replace a file at once, so a reader never sees half a value."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
