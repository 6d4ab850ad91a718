"""Memory-bandwidth utilisation (MBU) of a configuration: statistics and table rows.

Definitions, the same in every report:

- **Bytes per token**: the weights a decode step reads plus the KV cache at
  the run's mean context length during generation, ``prompt_tokens +
  (gen_tokens + 1) / 2`` positions (the cache grows by one per token).
- **Achieved bandwidth** of a run: bytes per token x its generation rate.
- **Device bandwidth**: the probe's read kernel with the job's threads
  (decode streams weights; copy and triad are kept for reference).
- **MBU**: mean achieved / mean device bandwidth, with Fieller's 95%
  interval for a ratio of two independent means (the runs' spread and the
  probe's spread both count); :func:`pocketbench.core.results.stats.ratio`.
- **Ceiling**: the generation rate at 100% MBU, device bandwidth / bytes per
  token; its interval is the device bandwidth's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from pocketbench.core.api.bandwidth import DeviceBandwidth, JobBandwidth, threads_text
from pocketbench.core.api.model import Workload
from pocketbench.core.results.stats import Ratio, Summary, ratio, summarize

GB = 1e9


@frozen(kw_only=True)
class BandwidthSummary:
    """A configuration's bandwidth figures; a part is None when it could not be had."""

    bytes_per_token: float | None
    weights_bytes: int | None
    kv_bytes_per_position: int | None
    mean_context: float
    source: str
    #: Achieved GB/s over the measured runs.
    achieved: Summary | None
    #: The probe's read GB/s over its trials.
    device: Summary | None
    probe: DeviceBandwidth | None
    mbu: Ratio | None
    ceiling_tps: float | None
    ceiling_ci95: tuple[float, float] | None
    notes: tuple[str, ...] = ()

    @property
    def device_median(self) -> float | None:
        return statistics.median(self.device.samples) if self.device is not None else None


def mean_context(w: Workload) -> float:
    return w.prompt_tokens + (w.gen_tokens + 1) / 2


def summarize_bandwidth(
    stored: JobBandwidth | None, workload: Workload, generation_tps: Sequence[float]
) -> BandwidthSummary | None:
    """The statistics of one configuration; None when nothing was stored (older results)."""
    if stored is None:
        return None
    context = mean_context(workload)
    notes = list(stored.notes)
    decode, probe = stored.decode, stored.device
    per_token = decode.per_token(context) if decode is not None else None
    achieved = None
    if per_token is not None and generation_tps:
        achieved = summarize([per_token * t / GB for t in generation_tps])
    device = summarize(probe.read) if probe is not None and probe.read else None
    mbu = None
    if achieved is not None and device is not None:
        mbu = ratio(achieved.samples, device.samples)
        if mbu.estimate > 1:
            notes.append(
                f"MBU above 100%: this decode read its {per_token / 1e6:.1f} MB per token faster"
                " than the probe read memory, so the probe's figure is no ceiling for it: the"
                " weights fit (partly) in the CPU's caches, or the probe reads below this"
                " device's peak"
            )
    ceiling = ceiling_ci = None
    if per_token and device is not None:
        ceiling = device.mean * GB / per_token
        ceiling_ci = (device.ci95[0] * GB / per_token, device.ci95[1] * GB / per_token)
    return BandwidthSummary(
        bytes_per_token=per_token,
        weights_bytes=decode.weights_bytes if decode is not None else None,
        kv_bytes_per_position=decode.kv_bytes_per_position if decode is not None else None,
        mean_context=context,
        source=decode.source if decode is not None else "",
        achieved=achieved,
        device=device,
        probe=probe,
        mbu=mbu,
        ceiling_tps=ceiling,
        ceiling_ci95=ceiling_ci,
        notes=tuple(notes),
    )


def as_json(b: BandwidthSummary | None) -> dict[str, Any] | None:
    """The ``bandwidth`` object of the JSON report (numbers; null where unknown)."""
    if b is None:
        return None
    probe = b.probe
    return {
        "bytes_per_token": b.bytes_per_token,
        "weights_bytes": b.weights_bytes,
        "kv_bytes_per_position": b.kv_bytes_per_position,
        "mean_context_tokens": b.mean_context,
        "achieved_gbps": b.achieved.mean if b.achieved is not None else None,
        "achieved_gbps_ci95": list(b.achieved.ci95) if b.achieved is not None else None,
        "device_gbps": b.device.mean if b.device is not None else None,
        "device_gbps_ci95": list(b.device.ci95) if b.device is not None else None,
        "device_gbps_median": b.device_median,
        "mbu": None if b.mbu is None else {"mean": b.mbu.estimate, "ci95": list(b.mbu.ci)},
        "ceiling_tps": b.ceiling_tps,
        "ceiling_tps_ci95": list(b.ceiling_ci95) if b.ceiling_ci95 is not None else None,
        "source": b.source,
        "probe": None
        if probe is None
        else {
            "threads": probe.threads,
            "cpus": list(probe.cpus),
            # The placement the figure is cached under (``--cores``), as asked and as reports say it.
            "placement": {"asked": probe.placement or None, "text": probe.where},
            "buffer_bytes": probe.buffer_bytes,
            "samples_gbps": {k: list(v) for k, v in probe.samples_gbps.items()},
            "limit_gbps": probe.limit_gbps,
            "toolchain": probe.toolchain,
            "measured_at": probe.measured_at,
            "run_s": probe.run_s,
            "cached": probe.cached,
        },
        "notes": list(b.notes),
    }


def pct(value: float) -> str:
    return f"{value * 100:.0f}%" if math.isfinite(value) else "unbounded"


def mbu_text(b: BandwidthSummary) -> str:
    """``61% (55 to 67%)`` with the 95% interval; "n/a" when either half is missing."""
    if b.mbu is None or not math.isfinite(b.mbu.estimate):
        return "n/a"
    low, high = b.mbu.ci
    if math.isnan(low) or math.isnan(high):  # one run or one probe trial: no interval
        return pct(b.mbu.estimate)
    if math.isinf(low) or math.isinf(high):
        return f"{pct(b.mbu.estimate)} (CI unbounded)"
    return f"{pct(b.mbu.estimate)} ({low * 100:.0f} to {high * 100:.0f}%)"


def _num(value: float | None, decimals: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def _pm(s: Summary | None, plusminus: str, latex: bool) -> Any:
    if s is None or s.n == 0:
        return "n/a"
    spread = s.half_width if plusminus == "ci" else s.stdev
    if not math.isfinite(spread):
        return f"{s.mean:.2f}"
    if latex:
        from markupsafe import Markup

        return Markup(f"\\mbox{{${s.mean:.2f} \\pm {spread:.2f}$}}")
    return f"{s.mean:.2f} ± {spread:.2f}"


def table_rows(
    items: Sequence[tuple[str, BandwidthSummary | None]], plusminus: str, *, latex: bool = False
) -> tuple[list[Any], list[list[Any]]] | None:
    """(header, rows) of the memory-bandwidth table; None when no configuration has figures."""
    if not any(b is not None for _, b in items):
        return None
    header: list[Any] = ["", *(label for label, _ in items)]
    rows: list[list[Any]] = [
        ["Bytes read per generated token (MB)"],
        ["Achieved bandwidth (GB/s)"],
        ["Device read bandwidth, measured (GB/s)"],
        ["MBU (achieved / measured, 95% CI)"],
        ["Decode ceiling at 100% MBU (tokens/s)"],
        ["Probe placement (threads, cores)"],
    ]
    for _, b in items:
        if b is None:
            for row in rows:
                row.append("n/a")
            continue
        rows[0].append(_num(b.bytes_per_token / 1e6 if b.bytes_per_token else None))
        rows[1].append(_pm(b.achieved, plusminus, latex))
        rows[2].append(_pm(b.device, plusminus, latex))
        rows[3].append(mbu_text(b))
        rows[4].append(_num(b.ceiling_tps, 1))
        probe = b.probe
        rows[5].append(f"{threads_text(probe.threads)}, {probe.where}" if probe else "n/a")
    return header, rows


TABLE_NOTE = (
    "Bytes per token: the weights a decode step reads plus the KV cache at the mean context"
    " length during generation. Device bandwidth: pocketbench's read probe on the device with"
    " the job's threads on the job's cores. MBU: mean achieved / mean measured bandwidth,"
    " Fieller's 95% interval."
)


def sentence(label: str, b: BandwidthSummary | None, device_kind: str) -> str | None:
    """The findings' line, e.g. "Q4_0 decodes at 61% (95% CI 55 to 67%) of this phone's
    measured memory bandwidth (ceiling ≈ 19 tok/s)."; None without both halves."""
    if b is None or b.mbu is None or b.ceiling_tps is None or not math.isfinite(b.mbu.estimate):
        return None
    where = "this phone's" if device_kind == "adb" else "this host's"
    cores = ""
    if b.probe is not None and b.probe.cpus:
        from pocketbench.core.api.placement import format_list

        named = b.probe.placement if b.probe.placement[:1].isalpha() else ""
        which = "core" if len(b.probe.cpus) == 1 else "cores"
        cores = f" on {which} {format_list(b.probe.cpus)}" + (f" ({named})" if named else "")
    low, high = b.mbu.ci
    ci = (
        f" (95% CI {low * 100:.0f} to {high * 100:.0f}%)"
        if all(map(math.isfinite, (low, high)))
        else ""
    )
    if b.mbu.estimate > 1:
        # Faster than the probe: stating its "ceiling" would contradict the measured speed.
        return (
            f"{label} decodes at {pct(b.mbu.estimate)}{ci} of {where} measured memory"
            f" bandwidth{cores}: faster than the probe read memory, so that figure is no"
            " ceiling for it (caches served part of the weights, or the probe reads below"
            " the device's peak)."
        )
    return (
        f"{label} decodes at {pct(b.mbu.estimate)}{ci} of {where} measured memory bandwidth"
        f"{cores} (ceiling ≈ {b.ceiling_tps:.0f} tok/s)."
    )
