"""The device's state across a configuration's runs: core frequencies, thermal status, cores.

Throttling shows in two ways: speed falling across runs (the trend test in
:mod:`pocketbench.core.results.stats`) and the cores' current frequency
falling.  :func:`freq_drop` compares the mean ``scaling_cur_freq`` of the
pinned cores (all cores when unpinned) before the first measured run with
the same after the last; a fall of :data:`DROP_PCT` percent or more, or an
Android thermal status of moderate or worse, flags the configuration.
"""

from __future__ import annotations

from typing import Protocol

from attrs import frozen

from pocketbench.core.api.model import Readings, RunRecord, Workload
from pocketbench.core.api.placement import format_list, mask


class Measured(Protocol):
    """What the device-state notes read of a configuration.

    A :class:`~pocketbench.core.results.report.ConfigReport` is one; named by
    its shape because the report model asks this module for its frequency drop.
    """

    @property
    def records(self) -> tuple[RunRecord, ...]: ...

    @property
    def workload(self) -> Workload: ...


#: A frequency fall of this many percent from the first to the last run counts as throttling.
DROP_PCT = 10.0
#: Android's THERMAL_STATUS_MODERATE: the platform itself says it is throttling.
THERMAL_MODERATE = 2
THERMAL_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")


@frozen(kw_only=True)
class FreqDrop:
    """How the cores' frequency moved over a configuration's measured runs."""

    first_mhz: float
    last_mhz: float
    #: Highest Android thermal status seen (None: not reported).
    thermal_status: int | None = None

    @property
    def change_pct(self) -> float:
        return 100.0 * (self.last_mhz - self.first_mhz) / self.first_mhz if self.first_mhz else 0.0

    @property
    def throttling(self) -> bool:
        hot = self.thermal_status is not None and self.thermal_status >= THERMAL_MODERATE
        return -self.change_pct >= DROP_PCT or hot


def _mean_mhz(readings: Readings | None, cores: tuple[int, ...]) -> float | None:
    if readings is None or not readings.cur_freqs_khz:
        return None
    freqs = readings.cur_freqs_khz
    chosen = [freqs[c] for c in cores if c < len(freqs)] if cores else list(freqs)
    chosen = [f for f in chosen if f > 0]
    return sum(chosen) / len(chosen) / 1000.0 if chosen else None


def freq_drop(config: Measured) -> FreqDrop | None:
    """The frequency movement over the measured runs, or None when not recorded."""
    runs = [r for r in config.records if r.before is not None or r.after is not None]
    if not runs:
        return None
    cores = tuple(config.workload.cores)
    first = _mean_mhz(runs[0].before, cores)
    last = _mean_mhz(runs[-1].after, cores)
    statuses = [
        x.thermal_status
        for r in runs
        for x in (r.before, r.after)
        if x is not None and x.thermal_status is not None
    ]
    if first is None or last is None:
        return None
    return FreqDrop(first_mhz=first, last_mhz=last, thermal_status=max(statuses, default=None))


def cores_text(config: Measured) -> str:
    """How a report names the placement: ``big (cores 6-7, mask c0)`` or ``not pinned``."""
    w = config.workload
    if not w.cores:
        return "not pinned"
    named = f"{w.placement} " if w.placement and not w.placement[0].isdigit() else ""
    return f"{named}(cores {format_list(w.cores)}, mask {mask(w.cores)})".strip()


def notes(config: Measured) -> list[str]:
    """Plain-text observations: frequency fall, thermal status, governors."""
    out = []
    drop = freq_drop(config)
    if drop is not None:
        moved = f"{drop.first_mhz:.0f} MHz to {drop.last_mhz:.0f} MHz ({drop.change_pct:+.1f}%)"
        if drop.throttling:
            out.append(f"Likely throttling: the cores' frequency went from {moved}.")
        else:
            out.append(f"Core frequency from the first to the last run: {moved}.")
        if drop.thermal_status is not None:
            name = THERMAL_NAMES[min(drop.thermal_status, len(THERMAL_NAMES) - 1)]
            out.append(f"Android thermal status: up to {drop.thermal_status} ({name}).")
    governors = {g for r in config.records if r.before is not None for g in r.before.governors if g}
    if governors:
        out.append(f"CPU frequency governor: {', '.join(sorted(governors))}.")
    return out
