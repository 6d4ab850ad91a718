"""Core frequencies, governors and Android's thermal status, read with every reading.

Appended to the readings script, so the device's state still costs one
round trip.  ``scaling_cur_freq`` and ``scaling_governor`` come from cpufreq
in sysfs; the thermal status is the ``Thermal Status: N`` line of
``dumpsys thermalservice`` (0 none ... 6 shutdown, Android 10+), which has
no sysfs equivalent.
"""

from __future__ import annotations

from collections.abc import Sequence

STATE_SCRIPT = "\n".join(
    [
        "for c in /sys/devices/system/cpu/cpu[0-9]*; do f=; g=;"
        ' read -r f < "$c/cpufreq/scaling_cur_freq" 2>/dev/null;'
        ' read -r g < "$c/cpufreq/scaling_governor" 2>/dev/null;'
        ' echo "F ${c##*/cpu} ${f:-0} ${g:--}"; done',
        "dumpsys thermalservice 2>/dev/null | while read -r a b c _; do"
        ' [ "$a $b" = "Thermal Status:" ] && echo "H $c"; done',
    ]
)


def parse_state(lines: Sequence[str]) -> dict[str, object]:
    """Readings fields: ``cur_freqs_khz``, ``governors``, ``thermal_status``."""
    freqs: dict[int, tuple[int, str]] = {}
    status: int | None = None
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "F" and parts[1].isdigit():
            khz = int(parts[2]) if parts[2].isdigit() else 0
            freqs[int(parts[1])] = (khz, "" if parts[3] == "-" else parts[3])
        elif len(parts) == 2 and parts[0] == "H" and parts[1].isdigit():
            status = int(parts[1])
    ordered = [freqs[k] for k in sorted(freqs)]
    return {
        "cur_freqs_khz": tuple(f for f, _ in ordered) if any(f for f, _ in ordered) else (),
        "governors": tuple(g for _, g in ordered) if any(g for _, g in ordered) else (),
        "thermal_status": status,
    }
