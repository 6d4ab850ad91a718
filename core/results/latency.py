"""Every token's time in reports: per-run TPOT figures as metrics, and what reports say of them.

A run's :class:`~pocketbench.core.api.tokentimes.TokenLatency` gives five
figures (TPOT p50/p90/p99, longest gap, stalls).  They enter the report as
ordinary metrics, so every reporter shows them and the statistics over runs
are the project's usual ones: the mean of the runs' percentiles with its 95%
interval over runs (docs/method.md says why runs, not pooled steps, are the
unit).  Runs whose figures are unreliable or declined contribute none; the
report says why in one line per configuration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from pocketbench.core.api.model import RunRecord
from pocketbench.core.results.stats import Summary


class ConfigFigures(Protocol):
    """What is read of a configuration (a report's ConfigReport has it; no import back up)."""

    label: str
    summaries: dict[str, Summary]
    records: tuple[RunRecord, ...]


#: The JSON ``latency`` keys, which are also the metric names.
LATENCY_METRICS: tuple[str, ...] = (
    "tpot_p50_ms", "tpot_p90_ms", "tpot_p99_ms", "max_gap_ms", "stalls",
)  # fmt: skip

SPECS: tuple[dict[str, Any], ...] = (
    *(
        {
            "name": f"tpot_p{q}_ms",
            "label": f"Time per Output Token, p{q} (ms)",
            "short": f"TPOT p{q}",
            "unit": "ms",
            "higher_is_better": False,
            "decimals": 2,
        }
        for q in (50, 90, 99)
    ),
    {
        "name": "max_gap_ms",
        "label": "Longest Gap between Tokens (ms)",
        "short": "longest gap",
        "unit": "ms",
        "higher_is_better": False,
        "decimals": 2,
    },
    {
        "name": "stalls",
        "label": "Stalls (gaps > 3x the run's median)",
        "short": "stalls",
        "unit": "per run",
        "higher_is_better": False,
        "decimals": 1,
    },
)

#: Said under every table that shows the figures.
NOTE = (
    "Time per output token (TPOT): the gaps between generated tokens as they reached the run's"
    " own launcher on the device (its stdout read through a pipe); per run its p50/p90/p99,"
    " longest gap and stalls (gaps over 3x the run's median), then their mean over the runs."
)


def latency_values(record: RunRecord) -> dict[str, float]:
    """The five figures of one run (empty: none taken, declined or unreliable)."""
    m = record.metrics
    latency = m.latency if m is not None else None
    if latency is None or not latency.usable:
        return {}
    return {k: float(v) for k, v in latency.summary().items() if math.isfinite(v)}


def problems(records: Sequence[RunRecord]) -> list[str]:
    """At most one line per kind (declined, unreliable) saying why runs have no usable figures."""
    taken = [
        r.metrics.latency
        for r in records
        if r.metrics is not None and r.metrics.latency is not None
    ]
    lines = []
    declined = [t.declined for t in taken if t.declined]
    if declined:
        lines.append(
            f"per-token times declined in {_of(declined, taken)}: {declined[0]};"
            " the averages are kept"
        )
    unreliable = [t.unreliable for t in taken if t.unreliable and not t.declined]
    if unreliable:
        lines.append(
            f"per-token times unreliable in {_of(unreliable, taken)} (not summarised):"
            f" {unreliable[0]}"
        )
    return lines


def _of(some: Sequence[object], taken: Sequence[object]) -> str:
    first = "" if len(some) == 1 else "; first"
    return f"{len(some)} of {len(taken)} run{'s' if len(taken) != 1 else ''}{first}"


def steps_by_position(records: Sequence[RunRecord]) -> list[tuple[int, float]]:
    """(decode step, median ms over the runs) of the usable runs: time against position."""
    from statistics import median

    runs = [
        r.metrics.latency.steps_ms
        for r in records
        if r.metrics is not None and r.metrics.latency is not None and r.metrics.latency.usable
    ]
    longest = max((len(s) for s in runs), default=0)
    return [(i + 1, median(s[i] for s in runs if i < len(s))) for i in range(longest)]


def latency_json(config: ConfigFigures) -> dict[str, Any] | None:
    """``{tpot_p50_ms: {mean, ci95, n}, ..., problems: [...]}``; None: nothing captured."""
    captured = any(r.metrics and r.metrics.latency for r in config.records)
    if not captured:
        return None
    out: dict[str, Any] = {}
    for name in LATENCY_METRICS:
        s = config.summaries.get(name)
        out[name] = (
            None
            if s is None or s.n == 0
            else {"mean": _finite(s.mean), "ci95": [_finite(v) for v in s.ci95], "n": s.n}
        )
    out["problems"] = problems(config.records)
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def latency_summary(configs: Sequence[ConfigFigures]) -> dict[str, dict[str, Summary]]:
    """Per configuration (by label) the TPOT percentiles, longest gap and stalls over runs.

    Each value is the mean of the runs' figures with its 95% interval (the
    findings' decision table and pictures read this); configurations
    without usable per-token times are left out.
    """
    out: dict[str, dict[str, Summary]] = {}
    for c in configs:
        figures = {m: c.summaries[m] for m in LATENCY_METRICS if m in c.summaries}
        if figures:
            out[c.label] = figures
    return out
