"""Markdown reporter: the Galaxy A25 study's tables ("4.48 ± 0.11"), filled from the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketbench import report as c
from pocketbench.report import Report, ReporterInfo, ReportOptions, hookimpl
from pocketbench.reporters import templating

if TYPE_CHECKING:
    from pocketbench.report import Findings


@hookimpl
def pocketbench_reporter_info() -> ReporterInfo:
    return ReporterInfo(
        description="Markdown tables in the Galaxy A25 study's style (mean ± sd), with run details",
        extension="md",
    )


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    return render(report, options)


@hookimpl
def pocketbench_render_findings(findings: Findings, options: ReportOptions) -> str:
    from pocketbench.reporters.findings import render_findings

    return render_findings(findings, "markdown")


def render(report: Report, options: ReportOptions) -> str:
    table = c.md_table(*c.summary_rows(report, options, c.pm_text))
    rows = c.bandwidth_rows([(k.label, k.bandwidth) for k in report.configs], options.plusminus)
    bw = c.md_table(*rows) if rows else ""
    return templating.render_report("markdown", "report.md.j2", report, options, table, bw)
