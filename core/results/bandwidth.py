"""Memory-bandwidth utilisation (MBU) of a configuration: statistics and table rows.

Definitions, the same in every report:

- **Bytes per token**: the weights a decode step reads plus the KV cache at
  the run's mean context length during generation, ``prompt_tokens +
  (gen_tokens + 1) / 2`` positions (the cache grows by one per token).
- **Achieved bandwidth** of a run: bytes per token x its generation rate.
- **Device bandwidth**: the probe's read kernel with the job's threads
  (decode streams weights; copy and triad are kept for reference): the best
  half of its clean trials (:attr:`DeviceBandwidth.figure_samples`), from the
  best of the job's probes (its start, a re-probe after a faster run, the
  study's end).
- **MBU**: mean achieved / mean device bandwidth, with Fieller's 95%
  interval for a ratio of two independent means (the runs' spread and the
  probe's spread both count); :func:`pocketbench.core.results.stats.ratio`.
- **Ceiling**: the generation rate at 100% MBU, device bandwidth / bytes per
  token; its interval is the device bandwidth's.

Not every configuration gets a percentage (:func:`verdict`): a decode step
whose bytes fit within :data:`CACHE_FACTOR` times the last-level cache is
served partly by the cache ("cache-resident: MBU not meaningful"), and an
achieved bandwidth above the device figure beyond their joint interval is a
measurement inconsistency, said in one line with its likely cause, never as
a percentage above 100%.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import attrs
from attrs import frozen

from pocketbench.core.api.bandwidth import DeviceBandwidth, JobBandwidth, threads_text
from pocketbench.core.api.model import Workload
from pocketbench.core.results.stats import Ratio, Summary, ratio, summarize

GB = 1e9
#: A decode step reading at most this many times the last-level cache is served
#: partly from it: the cache's replacement keeps a share of a cyclic stream
#: resident, so the achieved figure is no measure of memory traffic.
CACHE_FACTOR = 4


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
    #: Every probe of the placement (start, re-probes, the study's end), oldest first.
    probes: tuple[DeviceBandwidth, ...] = ()

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
    probes = stored.probes
    if probes:
        # The best sustained figure of them: a busier minute only ever reads less.
        probe = max(probes, key=lambda p: statistics.fmean(p.figure_samples or (0.0,)))
    device = summarize(probe.figure_samples) if probe is not None and probe.read else None
    mbu = None
    if achieved is not None and device is not None:
        mbu = ratio(achieved.samples, device.samples)
    ceiling = ceiling_ci = None
    if per_token and device is not None:
        ceiling = device.mean * GB / per_token
        ceiling_ci = (device.ci95[0] * GB / per_token, device.ci95[1] * GB / per_token)
    summary = BandwidthSummary(
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
        probes=probes,
    )
    v = verdict(summary)
    if v.reason:
        summary = attrs.evolve(summary, notes=(*summary.notes, v.reason))
    return summary


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
        # "mbu", "inconsistent", "cache-resident" or "missing" (what a report may say of it).
        "verdict": verdict(b).kind,
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
            "vector": probe.vector,
            "llc_bytes": probe.llc_bytes,
            "load_avg": probe.load_avg,
            "others_cores": probe.others_cores,
            "busy": probe.busy or None,
        },
        "probes": [
            {
                "measured_at": p.measured_at,
                "gbps": list(p.figure_samples),
                "load_avg": p.load_avg,
                "busy": p.busy or None,
                "reason": p.reason or None,
            }
            for p in b.probes
        ],  # fmt: skip
        "notes": list(b.notes),
    }


def pct(value: float) -> str:
    return f"{value * 100:.0f}%" if math.isfinite(value) else "unbounded"


@frozen(kw_only=True)
class Verdict:
    """What may be said of a configuration's MBU (:func:`verdict`).

    ``kind`` is "mbu" (``mbu`` holds it with its interval), "inconsistent"
    (the run read faster than the device figure beyond their joint interval;
    ``reason`` names the likely cause), "cache-resident" (``reason`` says
    how the bytes compare with the cache) or "missing" (a half is unknown).
    """

    kind: str
    mbu: Ratio | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        """The table cell: ``61% (55 to 67%)``, never a percentage above 100%."""
        if self.kind == "cache-resident":
            return "cache-resident: MBU not meaningful"
        if self.kind == "inconsistent":
            return "inconsistent (see note)"
        if self.kind != "mbu" or self.mbu is None:
            return "n/a"
        low, high = self.mbu.ci
        est = self.mbu.estimate
        if est > 1:
            # Within the joint interval of the device figure: the run is at the limit.
            return f"100% (at the device figure; 95% CI from {max(low, 0.0) * 100:.0f}%)"
        if math.isnan(low) or math.isnan(high):  # one run or one probe trial: no interval
            return pct(est)
        if math.isinf(low) or math.isinf(high):
            return f"{pct(est)} (CI unbounded)"
        return f"{pct(est)} ({max(low, 0.0) * 100:.0f} to {min(high, 1.0) * 100:.0f}%)"


def verdict(b: BandwidthSummary | None, label: str = "") -> Verdict:
    """Per configuration: its MBU with interval, "inconsistent" with its reason, or "cache-resident".

    The findings' decision table calls this; its ``text`` is the cell and,
    for an inconsistency, ``reason`` is the one line to print under it.
    """
    if b is None or b.mbu is None or not math.isfinite(b.mbu.estimate):
        return Verdict(kind="missing")
    probe = b.probe
    llc = probe.llc_bytes if probe is not None else 0
    if llc and b.bytes_per_token and b.bytes_per_token <= CACHE_FACTOR * llc:
        return Verdict(
            kind="cache-resident",
            mbu=b.mbu,
            reason=(
                f"{label + ': ' if label else ''}a decode step reads"
                f" {b.bytes_per_token / 1e6:.1f} MB, within {CACHE_FACTOR}x of the"
                f" {llc / 2**20:.0f} MiB last-level cache: MBU not meaningful"
            ),
        )
    low = b.mbu.ci[0]
    beyond = low > 1 if math.isfinite(low) else b.mbu.estimate > 1 and math.isnan(low)
    if beyond and b.achieved is not None and b.device is not None:
        if probe is not None and probe.busy:
            cause = f"the probe ran on a busy device ({probe.busy}), so its figure is low"
        else:
            cause = (
                "either the probe read below what this device gives (another minute, another"
                " placement) or the bytes per token count more than a decode step reads from"
                " memory"
            )
        return Verdict(
            kind="inconsistent",
            mbu=b.mbu,
            reason=(
                f"measurement inconsistency: {label + ' ' if label else ''}read"
                f" {b.achieved.mean:.1f} GB/s, above the device figure of {b.device.mean:.1f}"
                f" GB/s beyond their joint 95% interval; likely cause: {cause}"
            ),
        )
    return Verdict(kind="mbu", mbu=b.mbu)


def mbu_text(b: BandwidthSummary) -> str:
    """``61% (55 to 67%)`` with the 95% interval; "n/a" when either half is missing."""
    return verdict(b).text


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


def probe_text(p: DeviceBandwidth) -> str:
    """One probe as the table says it: ``41.2 ± 0.8 GB/s at 04:12 UTC, load 1.3 (busy: ...)``."""
    import time

    values = p.figure_samples
    mean = statistics.fmean(values) if values else math.nan
    spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(p.measured_at))
    load = f", load {p.load_avg:.1f}" if p.load_avg is not None else ""
    why = f" ({p.reason})" if p.reason else ""
    busy = f", busy: {p.busy}" if p.busy else ""
    return f"{mean:.1f}{spread} GB/s at {when}{load}{why}{busy}"


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
        ["Probes (figure, time, load)"],
    ]
    for _, b in items:
        if b is None:
            for row in rows:
                row.append("n/a")
            continue
        rows[0].append(_num(b.bytes_per_token / 1e6 if b.bytes_per_token else None))
        rows[1].append(_pm(b.achieved, plusminus, latex))
        rows[2].append(_pm(b.device, plusminus, latex))
        rows[3].append(verdict(b).text)
        rows[4].append(_num(b.ceiling_tps, 1))
        probe = b.probe
        rows[5].append(f"{threads_text(probe.threads)}, {probe.where}" if probe else "n/a")
        rows[6].append("; ".join(probe_text(p) for p in b.probes) or "n/a")
    return header, rows


def table_notes(items: Sequence[tuple[str, BandwidthSummary | None]]) -> list[str]:
    """The lines under the table for MBUs that are not a percentage: one per kind, naming each."""
    cached, inconsistent = [], []
    for label, b in items:
        v = verdict(b, label)
        if v.kind == "cache-resident" and b is not None and b.probe is not None:
            cached.append(
                f"{label} ({b.bytes_per_token / 1e6:.1f} MB of {b.probe.llc_bytes / 2**20:.0f} MiB)"
            )
        elif v.kind == "inconsistent":
            inconsistent.append(v.reason.removeprefix("measurement inconsistency: "))
    lines = []
    if cached:
        lines.append(
            f"Cache-resident, MBU not meaningful: a decode step reads within {CACHE_FACTOR}x of"
            f" the last-level cache: {'; '.join(cached)}."
        )
    if inconsistent:
        lines.append(f"Measurement inconsistency: {'; '.join(inconsistent)}.")
    return lines


TABLE_NOTE = (
    "Bytes per token: the weights a decode step reads plus the KV cache at the mean context"
    " length during generation. Device bandwidth: pocketbench's read probe (vector loads) on"
    " the device with the job's threads on the job's cores, the best half of its trials"
    " in which no thread was descheduled, from the best of the job's probes. MBU: mean"
    " achieved / mean measured bandwidth, Fieller's 95% interval; a decode step within"
    f" {CACHE_FACTOR}x of the last-level cache is cache-resident and gets no MBU."
)


def sentence(label: str, b: BandwidthSummary | None, device_kind: str) -> str | None:
    """The findings' line, e.g. "Q4_0 decodes at 61% (95% CI 55 to 67%) of this phone's
    measured memory bandwidth (ceiling ≈ 19 tok/s)."; None without both halves."""
    v = verdict(b, label)
    if v.kind in ("inconsistent", "cache-resident"):
        return f"{v.reason[0].upper()}{v.reason[1:]}."
    if b is None or v.mbu is None or b.ceiling_tps is None:
        return None
    where = "this phone's" if device_kind == "adb" else "this host's"
    cores = ""
    if b.probe is not None and b.probe.cpus:
        from pocketbench.core.api.placement import format_list

        named = b.probe.placement if b.probe.placement[:1].isalpha() else ""
        which = "core" if len(b.probe.cpus) == 1 else "cores"
        cores = f" on {which} {format_list(b.probe.cpus)}" + (f" ({named})" if named else "")
    low, high = v.mbu.ci
    if v.mbu.estimate > 1:  # within the joint interval: at the limit, not above it
        at = f"100% (95% CI from {low * 100:.0f}%)" if math.isfinite(low) else "100%"
    else:
        ci = f" (95% CI {low * 100:.0f} to {high * 100:.0f}%)" if all(map(math.isfinite, (low, high))) else ""  # fmt: skip
        at = f"{pct(v.mbu.estimate)}{ci}"
    return (
        f"{label} decodes at {at} of {where} measured memory bandwidth"
        f"{cores} (ceiling ≈ {b.ceiling_tps:.0f} tok/s)."
    )
