"""The findings document's data model: what a study found, as data.

The builder (:mod:`pocketbench.core.analysis.findings`) fills it from the
store; reporters render it (``pocketbench_render_findings``).  It sits beside
:class:`~pocketbench.core.results.report.Report` so that the hook
specifications, the plugin registry and reporters can name it without
importing the analysis layer above them.
"""

from __future__ import annotations

import math

from attrs import frozen

from pocketbench.core.results.report import CORE_METRICS, ConfigReport
from pocketbench.core.results.stats import Ratio, Welch


@frozen(kw_only=True)
class TextTable:
    """A table of text whose rows vary (by configuration, phone or source file).

    What varies by configuration is a row here, never one sentence per
    configuration; ``notes`` is what holds for every row, said once under it.
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


@frozen(kw_only=True)
class PhoneBreakdown:
    """A table (header, rows of text) per configuration and phone, and the variance split."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()
    #: Phone-to-phone against run-to-run variation, a row per configuration measured on
    #: several phones (``replicate``); None when no configuration was.
    variance: TextTable | None = None


@frozen(kw_only=True)
class Column:
    label: str
    #: None when nothing is stored for this configuration.
    config: ConfigReport | None


@frozen(kw_only=True)
class Table:
    """One table of the findings document: configurations as columns, metrics as rows."""

    title: str
    columns: tuple[Column, ...]
    metrics: tuple[str, ...] = CORE_METRICS


@frozen(kw_only=True)
class Conclusion:
    """One comparison (one metric, two configurations): ``a`` against the reference ``b``.

    ``ratio`` is mean(a) / mean(b); ``text`` is the comparison in one sentence.
    """

    metric: str
    a: str
    b: str
    welch: Welch
    ratio: Ratio
    mean_a: float
    mean_b: float
    p_adjusted: float = math.nan
    significant: bool = False
    text: str = ""

    @property
    def verdict(self) -> str:
        """ "faster", "slower", "not distinguishable" or "cannot be tested" (a against b)."""
        if not self.welch.testable:
            return "cannot be tested"
        if not self.significant:
            return "not distinguishable"
        return "faster" if self.mean_a > self.mean_b else "slower"

    @property
    def ratio_text(self) -> str:
        """ "1.82× [1.73, 1.92]": the ratio of means and its 95% interval."""
        r = self.ratio
        if not math.isfinite(r.estimate):
            return "n/a"
        if r.bounded and r.ci[0] != r.ci[1]:
            return f"{r.estimate:.2f}\u00d7 [{r.ci[0]:.2f}, {r.ci[1]:.2f}]"
        return f"{r.estimate:.2f}\u00d7" + ("" if r.bounded else " [unbounded]")

    @property
    def p_text(self) -> str:
        """The adjusted p-value as a table shows it: "0.037", "< 0.0001", "n/a"."""
        p = self.p_adjusted
        if math.isnan(p):
            return "n/a"
        if p < 0.0001:
            return "< 0.0001"
        return f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


@frozen(kw_only=True)
class ComparisonTable:
    """Every comparison of one metric: a row per pair, with its ratio, p and verdict."""

    metric: str
    #: E.g. "Generation speed".
    title: str
    rows: tuple[Conclusion, ...]
    #: The p column's header: "Holm-adjusted p", or "p" without a correction.
    p_label: str = "p"


@frozen(kw_only=True)
class Cell:
    """One figure of the decision table: a value, its 95% interval when known, its text."""

    value: float
    #: Plain text as the table shows it, e.g. "95.6 [93.5, 97.7]" (reporters escape it).
    text: str
    low: float | None = None
    high: float | None = None


@frozen(kw_only=True)
class DecisionColumn:
    """A column of the decision table (only columns some configuration has data for)."""

    key: str
    #: Header text, e.g. "Generation tok/s [95% CI]".
    label: str


@frozen(kw_only=True)
class DecisionRow:
    """A configuration's figures, by column key; a missing key reads "n/a"."""

    label: str
    config: ConfigReport | None
    cells: dict[str, Cell]
    #: On the speed/quality Pareto front (only meaningful when quality was measured).
    pareto: bool = False


@frozen(kw_only=True)
class DecisionTable:
    """Configurations against what a choice weighs: speed, latency, memory, quality, energy."""

    columns: tuple[DecisionColumn, ...]
    rows: tuple[DecisionRow, ...]
    #: What a column means or why a figure reads oddly, once for the whole table.
    notes: tuple[str, ...] = ()

    def text(self, row: DecisionRow, column: DecisionColumn) -> str:
        cell = row.cells.get(column.key)
        return cell.text if cell is not None else "n/a"


@frozen(kw_only=True)
class SummaryLine:
    """One line of the summary; ``kind`` says what it answers (e.g. "fastest", "trade-off")."""

    kind: str
    text: str


@frozen(kw_only=True)
class Picture:
    """A picture written beside the document (``bench study -o FILE``)."""

    #: File stem, e.g. "generation-speed".
    name: str
    title: str
    caption: str
    #: Path relative to the document, with forward slashes: "findings-files/generation-speed.png".
    path: str
    #: The same picture as SVG (scales without blurring), relative like ``path``; "" when none.
    svg: str = ""


@frozen(kw_only=True)
class Section:
    """The summary, decision table, tables and comparisons of one model on one device."""

    heading: str
    framework_table: Table
    quant_tables: tuple[Table, ...]
    #: Every comparison, worded and corrected for multiplicity across the document.
    conclusions: tuple[Conclusion, ...]
    #: At most three comparisons worth a sentence (the rest are in ``comparisons``).
    headlines: tuple[str, ...] = ()
    summary: tuple[SummaryLine, ...] = ()
    decision: DecisionTable | None = None
    #: One table per compared metric.
    comparisons: tuple[ComparisonTable, ...] = ()
    #: Where an imported section's configurations come from, a row per configuration.
    sources: TextTable | None = None


@frozen(kw_only=True)
class Findings:
    """A study's findings document as data: summary first, then tables, comparisons, caveats."""

    title: str
    description: str
    campaign: str
    devices: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    method: tuple[str, ...]
    statistics: tuple[str, ...]
    tools: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    sections: tuple[Section, ...]
    caveats: tuple[str, ...]
    plusminus: str
    generated_at: float
    version: str
    #: Results per phone, when several phones measured the study (a device lab).
    phones: PhoneBreakdown | None = None
    #: Pictures written beside the document; empty when it goes to standard output.
    pictures: tuple[Picture, ...] = ()
    #: What differs by scheme in ``tools`` (file type, model hash): a row per configuration.
    tool_table: TextTable | None = None
