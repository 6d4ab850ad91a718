"""LaTeX reporter: a standalone booktabs document for pdflatex; every user string escaped."""

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
        description="LaTeX document (booktabs tables) for pdflatex, user text escaped",
        extension="tex",
    )


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    return render(report, options)


@hookimpl
def pocketbench_render_findings(findings: Findings, options: ReportOptions) -> str:
    from pocketbench.reporters.findings import render_findings

    return render_findings(findings, "latex")


def render(report: Report, options: ReportOptions) -> str:
    table = c.latex_table(*c.summary_rows(report, options, c.latex_pm))
    items = [(k.label, k.bandwidth) for k in report.configs]
    rows = c.bandwidth_rows(items, options.plusminus, latex=True)
    bw = c.latex_table(*rows) if rows else ""
    return templating.render_report("latex", "report.tex.j2", report, options, table, bw)
