"""The public API for reporter authors: what a report holds and the helpers to format it.

A reporter plugin (``pocketbench_reporter_info`` and ``pocketbench_render``,
and ``pocketbench_render_findings`` for the findings document) imports from
here only: the report it is given (:class:`Report`, one :class:`ConfigReport`
per column, each metric's :class:`Summary`), the findings document's model,
and the formatting helpers pocketbench's own reporters use.  Backend authors
use :mod:`pocketbench.plugin`.  docs/api.md lists every name.
"""

from __future__ import annotations

from pocketbench.core.api.errors import PocketbenchError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import ReporterInfo
from pocketbench.core.kit.cache import cache_dir
from pocketbench.core.kit.convert import unstructure
from pocketbench.core.results.bandwidth import TABLE_NOTE as BANDWIDTH_NOTE
from pocketbench.core.results.bandwidth import as_json as bandwidth_json
from pocketbench.core.results.bandwidth import table_rows as bandwidth_rows
from pocketbench.core.results.devicestate import cores_text
from pocketbench.core.results.energy import energy_json
from pocketbench.core.results.findings import (
    Cell,
    ComparisonTable,
    Conclusion,
    DecisionColumn,
    DecisionRow,
    DecisionTable,
    Findings,
    Picture,
    Section,
    SummaryLine,
    Table,
    TextTable,
)
from pocketbench.core.results.latency import latency_json, steps_by_position
from pocketbench.core.results.names import CELL_WIDTH, short_name
from pocketbench.core.results.pareto_plot import pareto_chart
from pocketbench.core.results.plots import bar_chart, position_chart, roofline_chart, runs_chart
from pocketbench.core.results.present import (
    latex_breakable,
    latex_escape,
    latex_pm,
    latex_table,
    md_escape,
    md_table,
    notes,
    num,
    plusminus_text,
    pm_text,
    pvalue,
    quality_notes,
    quality_rows,
    shorten,
    summary_rows,
    when,
    workload_text,
)
from pocketbench.core.results.quality import (
    QUALITY_LABELS,
    QUALITY_METRICS,
    display_figure,
    pareto_front,
)
from pocketbench.core.results.report import (
    CORE_METRICS,
    DEFAULT_METRICS,
    TOTAL_DEFINITION,
    ConfigReport,
    Report,
    ReportOptions,
    RunPoint,
    facts_lines,
    metric_spec,
)
from pocketbench.core.results.stats import Summary

__all__ = [
    # hooks
    "hookimpl",
    "ReporterInfo",
    # what a reporter is given
    "Report",
    "ReportOptions",
    "ConfigReport",
    "RunPoint",
    "Summary",
    "Findings",
    "Section",
    "SummaryLine",
    "DecisionTable",
    "DecisionColumn",
    "DecisionRow",
    "Cell",
    "ComparisonTable",
    "Conclusion",
    "Picture",
    "Table",
    "TextTable",
    "CORE_METRICS",
    "DEFAULT_METRICS",
    "TOTAL_DEFINITION",
    "metric_spec",
    "facts_lines",
    "cores_text",
    # Markdown and LaTeX
    "md_escape",
    "md_table",
    "latex_escape",
    "latex_breakable",
    "latex_table",
    "latex_pm",
    # figures and words
    "num",
    "pm_text",
    "plusminus_text",
    "pvalue",
    "summary_rows",
    "shorten",
    "short_name",
    "CELL_WIDTH",
    "when",
    "workload_text",
    "notes",
    # quality
    "QUALITY_METRICS",
    "QUALITY_LABELS",
    "display_figure",
    "pareto_front",
    "quality_notes",
    "quality_rows",
    # energy, per-token latency and memory bandwidth
    "energy_json",
    "latency_json",
    "steps_by_position",
    "BANDWIDTH_NOTE",
    "bandwidth_json",
    "bandwidth_rows",
    # pictures (matplotlib, PNG)
    "bar_chart",
    "runs_chart",
    "roofline_chart",
    "pareto_chart",
    "position_chart",
    # JSON
    "unstructure",
    # a reporter's own cache (plots' font cache) and the error it may catch
    "cache_dir",
    "PocketbenchError",
]
