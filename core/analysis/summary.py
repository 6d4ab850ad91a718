"""The findings document's summary: what to ship on a device and what it costs, in a few lines.

Each line answers one question and is there only when the data answers it:
the fastest configurations, the speed/quality trade-off, the least energy
per token, the differences that are not distinguishable, and the caveats
that change the answer.  A line is a function in :data:`LINES` from a
:class:`Inputs` to a :class:`SummaryLine` or None; a new figure (a TPOT
percentile, a drift per round) is one more function, and :data:`MAX_LINES`
keeps the summary short.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from attrs import frozen

from pocketbench.core.analysis import caveats
from pocketbench.core.results import bandwidth, energy
from pocketbench.core.results.findings import Conclusion, DecisionTable, SummaryLine
from pocketbench.core.results.report import ConfigReport, metric_spec

#: The summary never grows past this.
MAX_LINES = 8
#: Pairs named in the "not distinguishable" line before "and N more".
MAX_PAIRS = 4


@frozen(kw_only=True)
class Inputs:
    """What one device's summary is written from."""

    #: (label, configuration, its framework's baseline) of the configurations measured.
    rows: tuple[tuple[str, ConfigReport, ConfigReport | None], ...]
    conclusions: tuple[Conclusion, ...]
    decision: DecisionTable


def _speed(c: ConfigReport, metric: str) -> str:
    s = c.summary(metric)
    low, high = s.ci95
    ci = f" [{low:.1f}, {high:.1f}]" if s.n > 1 and math.isfinite(low) and low != high else ""
    return f"{s.mean:.1f} tok/s{ci}"


def fastest(x: Inputs) -> SummaryLine | None:
    parts = []
    for metric in ("generation_tps", "prompt_tps"):
        ranked = [
            (c.summary(metric).mean, label, c) for label, c, _ in x.rows if c.summary(metric).n
        ]
        if ranked:
            _, label, c = max(ranked, key=lambda t: t[0])
            parts.append(f"fastest {metric_spec(metric).short}: {label}, {_speed(c, metric)}")
    if not parts:
        return None
    text = "; ".join(parts)
    return SummaryLine(kind="fastest", text=text[0].upper() + text[1:] + " (mean [95% CI]).")


def trade_off(x: Inputs) -> SummaryLine | None:
    """The Pareto front, and what the fastest quantized scheme costs in quality."""
    front = [r.label for r in x.decision.rows if r.pareto]
    if not front:
        return None
    costed = [
        (c.summary("generation_tps").mean, label, c, base)
        for label, c, base in x.rows
        if c.quality is not None and not c.quality.is_reference and c.summary("generation_tps").n
    ]
    text = f"Speed/quality Pareto front (nothing else is both faster and closer to its reference): {', '.join(front)}."
    if costed:
        _, label, c, base = max(costed, key=lambda t: t[0])
        q = c.quality
        cost = []
        if base is not None and base.summary("generation_tps").n:
            factor = c.summary("generation_tps").mean / base.summary("generation_tps").mean
            cost.append(f"{factor:.2f}\u00d7 its baseline's generation speed")
        if q is not None and (kl := q.value("kl_mean")) is not None:
            cost.append(f"mean KL {kl:.2f}")
        if q is not None and (top := q.value("top1_agreement")) is not None:
            cost.append(f"top-1 {100 * top:.0f}%")
        if cost:
            text += f" The fastest quantized scheme, {label}: {', '.join(cost)}."
    return SummaryLine(kind="trade-off", text=text)


def least_energy(x: Inputs) -> SummaryLine | None:
    line = energy.headline([c for _, c, _ in x.rows])
    return SummaryLine(kind="energy", text=line) if line else None


def indistinct(x: Inputs) -> SummaryLine | None:
    """The generation and prompt comparisons the tests cannot tell apart."""
    parts = []
    for metric in ("generation_tps", "prompt_tps"):
        pairs = [
            f"{c.a} vs {c.b}"
            for c in x.conclusions
            if c.metric == metric and c.verdict == "not distinguishable"
        ]
        if pairs:
            more = f" and {len(pairs) - MAX_PAIRS} more" if len(pairs) > MAX_PAIRS else ""
            parts.append(f"in {metric_spec(metric).short}, {', '.join(pairs[:MAX_PAIRS])}{more}")
    if not parts:
        return None
    return SummaryLine(kind="not distinguishable", text=f"Not distinguishable: {'; '.join(parts)}.")


def answer_caveats(x: Inputs) -> SummaryLine | None:
    """Caveats that change which configuration to pick (the full list is under Caveats)."""
    present = [c for _, c, _ in x.rows]

    def names(cs: Sequence[ConfigReport]) -> str:
        if len(cs) == len(present) > 1:
            return "every configuration"
        return ", ".join(c.label for c in cs)

    said = []
    if busy := [c for c in present if c.busy_host is not None]:
        said.append(f"the host was busy during the runs of {names(busy)}")
    if hot := caveats.throttled(present):
        said.append(f"likely thermal throttling for {names(hot)}")
    if fell := caveats.drifting(present):
        said.append(f"speed fell during the runs (drift) for {names(fell)}")
    inconsistent = [
        c for c in present if bandwidth.verdict(c.bandwidth, c.label).kind == "inconsistent"
    ]
    if inconsistent:
        said.append(f"an inconsistent bandwidth measurement for {names(inconsistent)}")
    if len(present) > 1 and all(c.quality is None for c in present):
        said.append("quality was not measured, so speed alone cannot choose a scheme")
    if not said:
        return None
    text = "; ".join(said)
    return SummaryLine(kind="caveat", text=f"Caveats: {text} (see Caveats).")


#: The summary's lines, in order; each returns None when the data does not answer it.
LINES: list[Callable[[Inputs], SummaryLine | None]] = [
    fastest,
    trade_off,
    least_energy,
    indistinct,
    answer_caveats,
]


def summary(
    rows: Sequence[tuple[str, ConfigReport, ConfigReport | None]],
    conclusions: Sequence[Conclusion],
    decision: DecisionTable,
) -> tuple[SummaryLine, ...]:
    x = Inputs(rows=tuple(rows), conclusions=tuple(conclusions), decision=decision)
    lines = [line for fn in LINES if (line := fn(x)) is not None]
    return tuple(lines[:MAX_LINES])
