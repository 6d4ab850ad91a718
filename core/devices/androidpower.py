"""Core placement and the energy sampler on an Android device: the shell text and its answers.

Placement uses toybox ``taskset MASK PROGRAM ...`` (toybox takes a hex mask,
not ``-c LIST``); the probe runs ``taskset MASK cat /proc/self/status`` once
per job, so a missing tool, a refused mask or a mask the kernel silently
narrows is one line before anything is measured.

Two more readings bracket every run with ``--energy``, in the same shell:
the wall clock against the sample clock (``C UPTIME EPOCH_NS UPTIME``: the
runtime's own phase timestamps are wall-clock epoch ms, the samples are
``/proc/uptime`` seconds, and the offset between the two clocks is only
known where both are read together), and, where the phone has on-device
power monitors (ODPM), the power-stats HAL's cumulative energy-meter
counters (``R0``/``R1`` lines, from ``dumpsys`` of :data:`RAILS_SERVICE`).

The energy sampler is a line the run wrapper executes on every poll (see
:func:`pocketbench.core.devices.android.wrapper_script`), in the same
device shell as the runtime: it reads the battery's ``current_now``,
``voltage_now`` and ``status`` (or the ``uevent`` file that holds all three)
with shell builtins and appends ``S UPTIME CURRENT VOLTAGE STATUS`` to the
run's trace file.  No adb round trip per sample: the file is read once
after the run.
"""

from __future__ import annotations

import re
import shlex

import attrs
from attrs import frozen

from pocketbench.core.api.power import EnergyTrace, RunTrace, battery_trace

#: Seconds between samples while energy is measured (about 5 per second with the reads).
ENERGY_POLL_S = 0.15

#: Where a runtime's battery gauge is found; ``uevent`` where ``current_now`` is not a file.
_BATTERY_PROBE = "\n".join(
    [
        "echo '@battery'",
        "for d in /sys/class/power_supply/*; do",
        '  y=; read -r y < "$d/type" 2>/dev/null',
        '  [ "$y" = Battery ] || continue',
        '  i=; read -r i < "$d/current_now" 2>/dev/null',
        '  if [ -n "$i" ]; then echo "file $d"; continue; fi',
        '  { while IFS== read -r k x; do case $k in POWER_SUPPLY_CURRENT_NOW) echo "uevent $d";;'
        ' esac; done; } 2>/dev/null < "$d/uevent"',
        "done",
    ]
)


#: The power-stats HAL's AIDL instance (Android 12+); its dump ends with the energy meter:
#: ``============= PowerStats HAL 2.0 energy meter ==============``, a ``Channel  Cumulative
#: Energy`` header, one ``<channel>  <counter> mWs`` line per rail (``[NAME]:SUBSYSTEM`` or
#: ``NAME``, the counter printed as ``%14.2f`` of a float) and an ``End of ...`` line.
RAILS_SERVICE = "android.hardware.power.stats.IPowerStats/default"
_METER_BEGIN = "PowerStats HAL 2.0 energy meter"
_METER_END = "End of PowerStats HAL 2.0 energy meter"
_RAIL = re.compile(r"^\s*(\S.*?)\s+([-+]?\d+(?:\.\d+)?)\s+mWs\b")
#: /proc/uptime prints centiseconds: the resolution of the sample clock.
UPTIME_RESOLUTION_S = 0.01


@frozen(kw_only=True)
class Probe:
    """What the probe found: taskset's verdict and the battery gauge."""

    #: "ok", "missing" or "refused" (None: not asked).
    taskset: str | None = None
    #: The probe process's Cpus_allowed_list under the mask, or taskset's complaint.
    detail: str = ""
    #: ("file" | "uevent", the power_supply directory), or None when no current is readable.
    battery: tuple[str, str] | None = None
    #: The power rails the energy meter lists (empty: none).
    rails: tuple[str, ...] = ()
    #: Why there are no rails: the service's own words ("Can't find service: ...").
    rails_problem: str = ""


def probe_script(mask: str | None, energy: bool) -> str:
    lines = []
    if mask is not None:
        lines += [
            "echo '@taskset'",
            f'taskset {shlex.quote(mask)} cat /proc/self/status 2>&1; echo "rc=$?"',
        ]
    if energy:
        lines += [_BATTERY_PROBE, "echo '@rails'", f'dumpsys {RAILS_SERVICE} 2>&1; echo "rc=$?"']
    return "\n".join(lines)


def parse_probe(text: str, asked_mask: bool) -> Probe:
    from pocketbench.core.devices.android import parse_sections

    s = parse_sections(text)
    verdict = None
    detail = ""
    if asked_mask:
        lines = s.get("taskset", [])
        rc = next((ln[3:] for ln in reversed(lines) if ln.startswith("rc=")), "")
        allowed = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Cpus_allowed_list:")), "")  # fmt: skip
        said = " ".join(ln.strip() for ln in lines if ln.strip() and not ln.startswith("rc="))
        if rc == "0" and allowed:
            verdict, detail = "ok", allowed
        elif rc == "127" or "not found" in said:
            verdict, detail = "missing", said[:200]
        else:
            verdict, detail = "refused", said[:200] or f"exit code {rc}"
    battery = None
    for line in s.get("battery", []):
        kind, _, where = line.partition(" ")
        if kind in ("file", "uevent") and where:
            battery = (kind, where)
            break
    rails_answer = s.get("rails", [])
    counters = meter_counters(rails_answer)
    said = " ".join(ln.strip() for ln in rails_answer if ln.strip() and not ln.startswith("rc="))
    problem = ""
    if not counters:
        problem = said[:160] or "the command printed nothing"
        if "not found" in said or "rc=127" in rails_answer:
            problem = "dumpsys is missing"
        elif _METER_BEGIN not in said:
            problem = f"dumpsys {RAILS_SERVICE} answered: {problem}"
        else:
            problem = "the power-stats HAL lists no energy-meter channel"
    return Probe(
        taskset=verdict,
        detail=detail,
        battery=battery,
        rails=tuple(counters),
        rails_problem=problem,
    )


def meter_counters(lines: list[str]) -> dict[str, float]:
    """The energy meter's cumulative counters of one dump, mWs (= mJ) by channel."""
    out: dict[str, float] = {}
    inside = False
    for line in lines:
        if _METER_END in line:
            inside = False
        elif _METER_BEGIN in line:
            inside = True
        elif inside and (m := _RAIL.match(line)):
            out[m[1]] = float(m[2])
    return out


def bracket_lines(tracefile: str, rails: bool) -> tuple[str, str]:
    """Shell text run before and after a run: the clock mapping, the rails' counters.

    The wall clock is read by ``date +%s%N`` between two reads of the sample
    clock, so the offset is known within the bracket.  The rails' dump is
    filtered to its energy-meter section on the device (a state-residency
    section can run to hundreds of lines).  Both append to the trace file by
    name: mksh does not hand descriptor 3 to the commands it runs.
    """
    q = shlex.quote(tracefile)
    clock = (
        "read -r c1 _ < /proc/uptime; w=$(date +%s%N 2>/dev/null); read -r c2 _ < /proc/uptime;"
        f' echo "C $c1 $w $c2" >> {q}'
    )

    def dump(tag: str) -> str:
        return (
            f"dumpsys {RAILS_SERVICE} 2>/dev/null | {{ m=; while IFS= read -r l; do case $l in"
            f' *"{_METER_END}"*) m=;; *"{_METER_BEGIN}"*) m=1;;'
            f' *) [ -n "$m" ] && echo "{tag} $l";; esac; done; }} >> {q}'
        )

    if not rails:
        return clock, clock
    return f"{dump('R0')}; {clock}", f"{clock}; {dump('R1')}"


def sample_line(battery: tuple[str, str]) -> str:
    """The shell text one sample takes (builtins only; output on descriptor 3)."""
    kind, where = battery
    d = shlex.quote(where)
    if kind == "file":
        read = (
            f"i=; v=; s=; read -r i < {d}/current_now; read -r v < {d}/voltage_now;"
            f" read -r s < {d}/status;"
        )
    else:
        read = (
            "i=; v=; s=; { while IFS== read -r k x; do case $k in POWER_SUPPLY_CURRENT_NOW) i=$x;;"
            " POWER_SUPPLY_VOLTAGE_NOW) v=$x;; POWER_SUPPLY_STATUS) s=$x;; esac;"
            f" done; }} < {d}/uevent;"
        )
    return (
        f"{{ {read} }} 2>/dev/null; read -r u _ < /proc/uptime;"
        ' [ -n "$i" ] && echo "S $u $i ${v:-0} ${s:-Unknown}" >&3'
    )


def parse_trace(
    text: str,
    *,
    energy: bool,
    period_s: float,
    known_sign: int = 0,
    rails: bool = False,
) -> RunTrace:
    """The trace file of one run: cores allowed, and energy when it was sampled.

    ``rails``: the phone's energy meter was found, so the run's counters are expected.
    """
    begin = end = None
    allowed: str | None = None
    samples: list[tuple[float, float, float, bool]] = []
    clocks: list[tuple[float, float, float]] = []
    meter: dict[str, list[str]] = {"R0": [], "R1": []}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in meter:
            meter[parts[0]].append(line[3:])
            continue
        try:
            if parts[0] == "C" and len(parts) == 4:
                clocks.append((float(parts[1]), float(parts[2]), float(parts[3])))
                continue
            if parts[0] == "B" and len(parts) == 2:
                begin = float(parts[1])
            elif parts[0] == "E" and len(parts) == 2:
                end = float(parts[1])
            elif parts[0] == "A" and len(parts) == 2:
                allowed = parts[1]
            elif parts[0] == "S" and len(parts) >= 4:
                status = " ".join(parts[4:]).lower()
                samples.append((float(parts[1]), float(parts[2]), float(parts[3]), status in ("charging", "full")))  # fmt: skip
        except ValueError:
            continue  # a line cut short when the run was killed
    trace: EnergyTrace | None = None
    if energy:
        if begin is None or end is None:
            trace = EnergyTrace(
                source="battery",
                samples=tuple((t, i, v) for t, i, v, _ in samples),
                problem="the run ended before its energy samples were complete",
            )
        else:
            trace = battery_trace(
                samples, start=begin, end=end, period_s=period_s, known_sign=known_sign
            )
        offset, error, problem = clock_offset(clocks)
        trace = attrs.evolve(
            trace,
            clock_offset_s=offset,
            clock_error_s=error,
            clock_problem=problem,
            clock_readings=tuple(clocks),
        )
        if rails:
            joules, rails_problem = rail_joules(meter["R0"], meter["R1"])
            first = meter_counters([_METER_BEGIN, *meter["R0"]])
            last = meter_counters([_METER_BEGIN, *meter["R1"]])
            raw = {k: (v, last[k]) for k, v in first.items() if k in last}
            trace = attrs.evolve(
                trace, rails=joules, rails_problem=rails_problem, rail_counters_mws=raw
            )
    return RunTrace(cpus_allowed=allowed, energy=trace)


def clock_offset(
    readings: list[tuple[float, float, float]],
) -> tuple[float | None, float | None, str | None]:
    """(wall clock - sample clock, its uncertainty, problem) from the bracketing readings.

    Each reading is (uptime before, epoch ns, uptime after).  /proc/uptime
    truncates to centiseconds, so a reading bounds the offset within half its
    bracket plus that resolution.  The readings before and after the run must
    agree: a wall clock set (or stepped by NTP) during the run would misplace
    the runtime's phases, so then there is no offset.
    """
    found = []
    for c1, wall_ns, c2 in readings:
        if wall_ns < 1e15 or c2 < c1:  # no %N: whole seconds cannot place a phase
            continue
        found.append((wall_ns / 1e9 - (c1 + c2) / 2, (c2 - c1) / 2 + UPTIME_RESOLUTION_S))
    if not found:
        why = "no wall-clock reading" if not readings else "the device's date prints no %N"
        return (
            None,
            None,
            f"{why}: the runtime's phase timestamps cannot be placed among the samples",
        )
    offsets = [o for o, _ in found]
    spread = max(offsets) - min(offsets)
    error = max(e for _, e in found)
    if spread > 2 * error + 0.05:
        return None, None, f"the device's wall clock moved by {spread:.2f} s during the run"
    return sum(offsets) / len(offsets), error + spread / 2, None


def rail_joules(before: list[str], after: list[str]) -> tuple[dict[str, float], str | None]:
    """Joules per rail between the two dumps (counters in mWs), or why there are none."""
    first, last = meter_counters([_METER_BEGIN, *before]), meter_counters([_METER_BEGIN, *after])
    if not first or not last:
        return {}, "not available: the power rails gave no reading around this run"
    out = {}
    for name, value in first.items():
        if name in last and last[name] >= value:  # a counter that went back was reset
            out[name] = (last[name] - value) / 1000.0
    if not out:
        return {}, "not available: the power rails' counters went back during the run"
    return out, None
