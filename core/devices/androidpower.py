"""Core placement and the energy sampler on an Android device: the shell text and its answers.

Placement uses toybox ``taskset MASK PROGRAM ...`` (toybox takes a hex mask,
not ``-c LIST``); the probe runs ``taskset MASK cat /proc/self/status`` once
per job, so a missing tool, a refused mask or a mask the kernel silently
narrows is one line before anything is measured.

The energy sampler is a line the run wrapper executes on every poll (see
:func:`pocketbench.core.devices.android.wrapper_script`), in the same
device shell as the runtime: it reads the battery's ``current_now``,
``voltage_now`` and ``status`` (or the ``uevent`` file that holds all three)
with shell builtins and appends ``S UPTIME CURRENT VOLTAGE STATUS`` to the
run's trace file.  No adb round trip per sample: the file is read once
after the run.
"""

from __future__ import annotations

import shlex

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


@frozen(kw_only=True)
class Probe:
    """What the probe found: taskset's verdict and the battery gauge."""

    #: "ok", "missing" or "refused" (None: not asked).
    taskset: str | None = None
    #: The probe process's Cpus_allowed_list under the mask, or taskset's complaint.
    detail: str = ""
    #: ("file" | "uevent", the power_supply directory), or None when no current is readable.
    battery: tuple[str, str] | None = None


def probe_script(mask: str | None, energy: bool) -> str:
    lines = []
    if mask is not None:
        lines += [
            "echo '@taskset'",
            f'taskset {shlex.quote(mask)} cat /proc/self/status 2>&1; echo "rc=$?"',
        ]
    if energy:
        lines.append(_BATTERY_PROBE)
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
    return Probe(taskset=verdict, detail=detail, battery=battery)


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


def parse_trace(text: str, *, energy: bool, period_s: float, known_sign: int = 0) -> RunTrace:
    """The trace file of one run: cores allowed, and energy when it was sampled."""
    begin = end = None
    allowed: str | None = None
    samples: list[tuple[float, float, float, bool]] = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        try:
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
    return RunTrace(cpus_allowed=allowed, energy=trace)
