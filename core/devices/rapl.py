"""Energy on this host from RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``).

Intel and AMD CPUs count the energy of each package in microjoules; the
counter wraps at ``max_energy_range_uj``.  Reading it usually needs root
(since 2020 kernels restrict it).  Where no counter is readable, energy is
"not available": pocketbench never estimates it.
"""

from __future__ import annotations

import time
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.power import EnergyTrace

ROOT = Path("/sys/class/powercap")


@frozen
class Zone:
    """One package's counter."""

    name: str
    path: Path
    max_uj: int


def zones(root: Path | None = None) -> list[Zone]:
    """Readable package counters (sub-zones such as core/uncore are inside them)."""
    root = ROOT if root is None else root
    found = []
    for d in sorted(root.glob("intel-rapl:*")) if root.is_dir() else []:
        if d.name.count(":") != 1:
            continue  # a sub-zone: its energy is already in the package's
        try:
            (d / "energy_uj").read_text()
            name = (d / "name").read_text().strip()
            top = int((d / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        found.append(Zone(name, d / "energy_uj", top))
    return found


def read(found: list[Zone]) -> tuple[float, ...]:
    """(monotonic seconds, counter of each zone...)."""
    return (time.monotonic(), *(float(z.path.read_text()) for z in found))


def trace(found: list[Zone], first: tuple[float, ...], last: tuple[float, ...]) -> EnergyTrace:
    """Joules between two readings, wraps handled; rails are the packages."""
    rails = {}
    for z, a, b in zip(found, first[1:], last[1:]):
        delta = b - a if b >= a else b + z.max_uj - a
        rails[z.name] = delta / 1e6
    return EnergyTrace(
        source="rapl", samples=(first, last), joules=sum(rails.values()), rails=rails
    )


NOT_AVAILABLE = EnergyTrace(
    source="rapl",
    problem="not available: this host exposes no readable RAPL counter (/sys/class/powercap)",
)
