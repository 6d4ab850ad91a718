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
class PhoneBreakdown:
    """A table (header, rows of text) and the variance sentences under it."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]


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
    """One worded comparison (one metric, two configurations)."""

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


@frozen(kw_only=True)
class Section:
    """The tables and conclusions of one model on one device."""

    heading: str
    framework_table: Table
    quant_tables: tuple[Table, ...]
    conclusions: tuple[Conclusion, ...]
    headlines: tuple[str, ...] = ()
    #: What each scheme costs in quality, and the speed/quality Pareto front.
    quality: tuple[str, ...] = ()


@frozen(kw_only=True)
class Findings:
    """The findings document as data: what every findings reporter renders."""

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
