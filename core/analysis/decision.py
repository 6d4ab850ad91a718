"""The findings document's decision table: a row per configuration, a column per figure a choice weighs.

Columns are :data:`COLUMNS`, in order; a column no configuration has data
for is dropped, so a speed-only study shows speed, latency and memory, and
a study with quality, bandwidth or energy gains those columns.  A new
figure is one :class:`ColumnSpec` appended to :data:`COLUMNS` (its key,
header and a function from a configuration to its :class:`Cell`, or None
when it has no figure).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from attrs import frozen

from pocketbench.core.results import bandwidth, energy
from pocketbench.core.results.findings import Cell, DecisionColumn, DecisionRow, DecisionTable
from pocketbench.core.results.quality import pareto_front
from pocketbench.core.results.report import ConfigReport


@frozen(kw_only=True)
class ColumnSpec:
    """How one column of the decision table is filled."""

    key: str
    label: str
    cell: Callable[[ConfigReport], Cell | None]


def _number(value: float) -> str:
    # Enough digits to tell 5.31 from 5.64 and 174.3 from 174.9, never more.
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"


def _mean_ci(
    metric: str, scale: float = 1.0, digits: int | None = None
) -> Callable[..., Cell | None]:
    """The mean with its 95% interval ("95.6 [93.5, 97.7]"), scaled for display."""

    def fmt(v: float) -> str:
        return _number(v) if digits is None else f"{v:.{digits}f}"

    def cell(c: ConfigReport) -> Cell | None:
        s = c.summaries.get(metric)
        if s is None or not math.isfinite(s.mean):
            return None
        mean, (low, high) = s.mean * scale, (s.ci95[0] * scale, s.ci95[1] * scale)
        if math.isfinite(low) and math.isfinite(high) and low != high:
            return Cell(
                value=mean, low=low, high=high, text=f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"
            )
        return Cell(value=mean, text=fmt(mean))

    return cell


def _mean(metric: str, scale: float = 1.0, digits: int = 0) -> Callable[..., Cell | None]:
    """The mean alone, for figures whose spread matters less to a choice (memory)."""

    def cell(c: ConfigReport) -> Cell | None:
        s = c.summaries.get(metric)
        if s is None or not math.isfinite(s.mean):
            return None
        return Cell(value=s.mean * scale, text=f"{s.mean * scale:.{digits}f}")

    return cell


def _mbu(c: ConfigReport) -> Cell | None:
    b = c.bandwidth
    if b is None or b.mbu is None or not math.isfinite(b.mbu.estimate):
        return None
    low, high = b.mbu.ci
    return Cell(value=b.mbu.estimate, low=low, high=high, text=bandwidth.mbu_text(b))


def _quality(name: str, fmt: Callable[[float], str]) -> Callable[..., Cell | None]:
    def cell(c: ConfigReport) -> Cell | None:
        q = c.quality
        figure = q.figures.get(name) if q is not None else None
        if q is None or figure is None or not math.isfinite(figure.value):
            return None
        if q.is_reference and name == "kl_mean":
            return Cell(value=figure.value, text="reference")
        low, high = figure.ci95 if figure.ci95 is not None else (None, None)
        return Cell(value=figure.value, low=low, high=high, text=fmt(figure.value))

    return cell


#: The decision table's columns, in order; extend it to add a figure.
COLUMNS: list[ColumnSpec] = [
    ColumnSpec(
        key="generation_tps",
        label="Generation tok/s [95% CI]",
        cell=_mean_ci("generation_tps"),
    ),
    ColumnSpec(key="prompt_tps", label="Prompt tok/s [95% CI]", cell=_mean_ci("prompt_tps")),
    ColumnSpec(key="ttft_ms", label="TTFT ms", cell=_mean_ci("ttft_ms", digits=1)),
    # The wait between words in the slowest 10% of decode steps, what a streaming user feels.
    ColumnSpec(key="tpot_p90_ms", label="TPOT p90 ms", cell=_mean_ci("tpot_p90_ms", digits=1)),
    ColumnSpec(
        key="peak_rss_bytes", label="Peak memory MiB", cell=_mean("peak_rss_bytes", 1 / 2**20)
    ),
    ColumnSpec(key="mbu", label="MBU (95% CI)", cell=_mbu),
    ColumnSpec(key="kl_mean", label="Mean KL", cell=_quality("kl_mean", lambda v: f"{v:.3f}")),
    ColumnSpec(
        key="top1_agreement",
        label="Top-1",
        cell=_quality("top1_agreement", lambda v: f"{100 * v:.0f}%"),
    ),
    ColumnSpec(
        key="ppl_ratio", label="PPL ratio", cell=_quality("ppl_ratio", lambda v: f"{v:.3f}")
    ),
    ColumnSpec(
        key=energy.MJ_PER_TOKEN, label="mJ/token", cell=_mean(energy.MJ_PER_TOKEN, digits=1)
    ),
]
PARETO = DecisionColumn(key="pareto", label="Pareto front")
CHECK = "\u2713"


def speed_and_kl(c: ConfigReport | None) -> tuple[float, float]:
    """(mean generation speed, mean KL) of a configuration, NaN where unknown."""
    if c is None:
        return math.nan, math.nan
    s = c.summary("generation_tps")
    kl = c.quality.value("kl_mean") if c.quality is not None else None
    return (s.mean if s.n else math.nan), (kl if kl is not None else math.nan)


def decision_table(
    members: Sequence[tuple[str, ConfigReport | None]], notes: Sequence[str] = ()
) -> DecisionTable:
    """The table of (label, configuration) pairs; columns without data are dropped."""
    cells = [
        {spec.key: cell for spec in COLUMNS if c is not None and (cell := spec.cell(c)) is not None}
        for _, c in members
    ]
    columns = [
        DecisionColumn(key=spec.key, label=spec.label)
        for spec in COLUMNS
        if any(spec.key in row for row in cells)
    ]
    points = [speed_and_kl(c) for _, c in members]
    with_quality = sum(all(map(math.isfinite, p)) for p in points)
    front = set(pareto_front(points)) if with_quality >= 2 else set()
    if front:
        columns.append(PARETO)
        for i, row in enumerate(cells):
            row[PARETO.key] = Cell(value=float(i in front), text=CHECK if i in front else "")
    rows = tuple(
        DecisionRow(label=label, config=c, cells=row, pareto=i in front)
        for i, ((label, c), row) in enumerate(zip(members, cells))
    )
    return DecisionTable(columns=tuple(columns), rows=rows, notes=tuple(notes))


def table_notes(present: Sequence[ConfigReport]) -> tuple[str, ...]:
    """What the table's figures mean, said once: MBU not quoted, energy's phases and definition."""
    out = []
    # An MBU the physics refuses, or one a cache makes meaningless: one line each, no percentage.
    out += bandwidth.table_notes([(c.label, c.bandwidth) for c in present])
    references: dict[str, list[str]] = {}
    for c in present:
        if c.quality is not None:
            references.setdefault(c.quality.reference, []).append(c.label)
    if len(references) > 1:
        # Each framework measured from its own baseline: KLs of different references differ in kind.
        out.append(
            "Quality is measured from different references: "
            + "; ".join(f"{ref} for {', '.join(who)}" for ref, who in references.items())
            + "."
        )
    # The cheapest configuration is in the summary; the phases, rails and definitions here.
    out += energy.findings_lines(list(present))[1:]
    return tuple(out)
