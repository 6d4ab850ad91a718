"""Energy and placement as a device recorded them during one run.

A phone's battery gauge gives current and voltage (``current_now``,
``voltage_now`` under ``/sys/class/power_supply``).  They come in different
units (µA or mA, µV or mV) and with a sign convention that differs between
vendors (negative while discharging on Pixels, positive on many Samsungs).
:func:`battery_trace` normalises both, records the convention it found, and
integrates power with the trapezoid rule.  Raw samples are kept with every
run, so a figure can be recomputed without measuring again.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence

import attrs
from attrs import field, frozen

#: A pause between samples longer than this many periods, and than :data:`MIN_GAP_S`,
#: means the samples stopped (a busy phone may delay one sample, never several seconds).
GAP_FACTOR = 4.0
MIN_GAP_S = 2.0
#: Runs shorter than this get no energy figure: fuel gauges average their current over
#: a fraction of a second to a second, so a shorter run mostly measures the gauge.
MIN_RUN_S = 0.5


@frozen(kw_only=True)
class EnergyTrace:
    """Energy of one run and the samples it came from.

    ``joules`` is None when the samples cannot give an honest figure
    (``problem`` says why: charging, samples stopped, no readable current).
    """

    #: "battery" (a phone's fuel gauge) or "rapl" (the host's package counters).
    source: str
    #: Raw samples: (device seconds, current as read, voltage as read) for a
    #: battery; (seconds, microjoules counter) for RAPL.
    samples: tuple[tuple[float, ...], ...] = ()
    #: Units the raw values were found to be in ("uA"/"mA", "uV"/"mV"/"V").
    current_unit: str = ""
    voltage_unit: str = ""
    #: Sign of ``current_now`` while the battery discharges on this device (+1 or -1; 0 unknown).
    discharge_sign: int = 0
    #: True when the device was charging during the run (battery figures mean nothing then).
    charging: bool = False
    joules: float | None = None
    #: Samples per second actually achieved.
    rate_hz: float | None = None
    problem: str | None = None
    #: Per-rail energy (joules) where the device exposes power rails.
    rails: dict[str, float] = field(factory=dict)
    #: Why there is no per-rail energy ("not available: ..."); None when there is, or not asked.
    rails_problem: str | None = None
    #: Wall-clock (Unix epoch) seconds minus the sample clock's seconds, measured in the
    #: device shell that ran the runtime; None where not measured.  It maps a runtime's
    #: own wall-clock phase timestamps onto the samples (:func:`window_joules`).
    clock_offset_s: float | None = None
    #: How far the true offset may lie from ``clock_offset_s`` (half the bracket of the
    #: readings plus the sample clock's resolution), seconds.
    clock_error_s: float | None = None
    #: Why the offset is missing ("the wall clock was set during the run" ...).
    clock_problem: str | None = None
    #: Raw clock readings: (sample clock, wall-clock epoch ns, sample clock) before and after.
    clock_readings: tuple[tuple[float, float, float], ...] = ()
    #: Raw rail counters (mWs) before and after the run, by channel.
    rail_counters_mws: dict[str, tuple[float, float]] = field(factory=dict)

    @property
    def ok(self) -> bool:
        return self.joules is not None and self.problem is None


@frozen(kw_only=True)
class RunTrace:
    """What the device recorded beside the runtime's output during one run."""

    #: The runtime process's allowed cores as the device reported them ("6-7"); None: not read.
    cpus_allowed: str | None = None
    energy: EnergyTrace | None = None


def trapezoid(times: Sequence[float], values: Sequence[float]) -> float:
    """The trapezoid-rule integral of ``values`` over ``times`` (seconds)."""
    return sum(
        (times[i] - times[i - 1]) * (values[i] + values[i - 1]) / 2 for i in range(1, len(times))
    )


def current_unit(raw: Sequence[float]) -> tuple[str, float]:
    """("uA", 1e-6) or ("mA", 1e-3): a phone running a model draws 0.05-5 A.

    In µA that is 50 000 or more; in mA, under 10 000.  The median decides,
    so a few odd samples cannot flip it.
    """
    typical = statistics.median(abs(v) for v in raw) if raw else 0.0
    return ("uA", 1e-6) if typical >= 10_000 else ("mA", 1e-3)


def voltage_unit(raw: Sequence[float]) -> tuple[str, float]:
    """("uV", 1e-6), ("mV", 1e-3) or ("V", 1.0) for a 3-5 V battery."""
    typical = statistics.median(abs(v) for v in raw) if raw else 0.0
    if typical >= 100_000:
        return "uV", 1e-6
    if typical >= 100:
        return "mV", 1e-3
    return "V", 1.0


def discharge_sign(raw: Sequence[float]) -> int:
    """The sign the gauge gives a discharging battery: the sign of most samples."""
    positive = sum(1 for v in raw if v > 0)
    negative = sum(1 for v in raw if v < 0)
    if positive == negative:
        return 0
    return 1 if positive > negative else -1


def battery_trace(
    samples: Sequence[tuple[float, float, float, bool]],
    *,
    start: float,
    end: float,
    period_s: float,
    known_sign: int = 0,
) -> EnergyTrace:
    """Energy from battery samples (time, current, voltage, charging) taken in ``[start, end]``.

    ``known_sign`` is the device's discharge sign when an earlier run found
    it; otherwise this run's samples decide.  Refuses to give joules when the
    battery was charging, when no current was readable, or when the samples
    stopped (or paused) for longer than ``GAP_FACTOR`` periods.
    """
    raw = tuple((t, i, v) for t, i, v, _ in samples)
    charging = any(c for *_, c in samples)
    base = {"source": "battery", "samples": raw, "charging": charging}
    if len(samples) < 2 or all(i == 0 for _, i, _, _ in samples):
        return EnergyTrace(
            **base,  # type: ignore[arg-type]
            problem="no readable battery current (current_now) on this device",
        )
    currents = [i for _, i, _, _ in samples]
    c_unit, _ = current_unit(currents)
    v_unit, _ = voltage_unit([v for _, _, v, _ in samples])
    sign = known_sign or discharge_sign(currents)
    times = [t for t, _, _, _ in samples]
    rate = (len(times) - 1) / (times[-1] - times[0]) if times[-1] > times[0] else None
    units = {
        "current_unit": c_unit,
        "voltage_unit": v_unit,
        "discharge_sign": sign,
        "rate_hz": rate,
    }
    if charging:
        return EnergyTrace(
            **base,  # type: ignore[arg-type]
            **units,
            problem="the battery was charging: battery figures mean nothing; measure unplugged"
            " over wireless adb",
        )
    if end - start < MIN_RUN_S:
        return EnergyTrace(
            **base,  # type: ignore[arg-type]
            **units,
            problem=f"the run lasted {end - start:.2f} s, too short for a battery gauge (at least"
            f" {MIN_RUN_S:g} s): generate more tokens",
        )
    gaps = [times[0] - start, end - times[-1], *(b - a for a, b in zip(times, times[1:]))]
    worst = max(gaps)
    if worst > max(GAP_FACTOR * period_s, MIN_GAP_S):
        return EnergyTrace(
            **base,  # type: ignore[arg-type]
            **units,
            problem=f"the energy samples stopped for {worst:.1f} s during the run; no energy figure",
        )
    trace = EnergyTrace(**base, **units)  # type: ignore[arg-type]
    return attrs.evolve(trace, joules=trapezoid(*battery_power(trace)))


def battery_power(trace: EnergyTrace) -> tuple[list[float], list[float]]:
    """(sample times, watts drawn) of a battery trace, in its own units and sign convention."""
    c_scale = 1e-6 if trace.current_unit == "uA" else 1e-3
    v_scale = {"uV": 1e-6, "mV": 1e-3}.get(trace.voltage_unit, 1.0)
    sign = trace.discharge_sign or 1
    times = [s[0] for s in trace.samples]
    # Power drawn from the battery: current in the discharge direction only
    # (a sample of the other sign is the gauge's noise around zero, not energy gained).
    watts = [max(0.0, s[1] * sign * c_scale) * s[2] * v_scale for s in trace.samples]
    return times, watts


def window_joules(trace: EnergyTrace, start: float, end: float) -> float | None:
    """Energy between ``start`` and ``end`` (sample-clock seconds) of an ok battery trace.

    Power is taken as linear between samples, as the trapezoid rule of the
    whole run takes it, so the windows of a run add up to its energy.  None
    when the window is not inside the sampled span (no figure is extrapolated).
    """
    if not trace.ok or trace.source != "battery" or end <= start:
        return None
    times, watts = battery_power(trace)
    if len(times) < 2 or start < times[0] or end > times[-1]:
        return None

    def at(t: float) -> float:
        i = bisect.bisect_right(times, t)
        if i <= 0:
            return watts[0]
        if i >= len(times):
            return watts[-1]
        t0, t1 = times[i - 1], times[i]
        w0, w1 = watts[i - 1], watts[i]
        return w0 if t1 == t0 else w0 + (w1 - w0) * (t - t0) / (t1 - t0)

    inner = [(t, w) for t, w in zip(times, watts) if start < t < end]
    points = [(start, at(start)), *inner, (end, at(end))]
    return trapezoid([t for t, _ in points], [w for _, w in points])
