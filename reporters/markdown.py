"""Markdown reporter: the seed study's tables ("4.48 ± 0.11"), filled from the store."""

from __future__ import annotations

from pocketbench.core.hookspecs import hookimpl
from pocketbench.core.model import ReporterInfo
from pocketbench.core.report import Report, ReportOptions
from pocketbench.reporters import _common as c


@hookimpl
def pocketbench_reporter_info() -> ReporterInfo:
    return ReporterInfo(
        description="Markdown tables in the seed study's style (mean ± sd), with run details",
        extension="md",
    )


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    return render(report, options)


def render(report: Report, options: ReportOptions) -> str:
    return (
        c.environment("markdown")
        .get_template("report.md.j2")
        .render(
            report=report,
            options=options,
            title=options.title or report.title,
            table=summary_table(report, options),
            plusminus_text=c.plusminus_text(options),
        )
    )


def summary_table(report: Report, options: ReportOptions) -> str:
    header = ["", *(cfg.label for cfg in report.configs)]
    rows = [
        [
            c.metric_spec(m).label,
            *(c.pm_text(cfg.summary(m), m, options.plusminus) for cfg in report.configs),
        ]
        for m in report.metrics
    ]
    rows.append(["Measured runs (n)", *(str(cfg.n_ok) for cfg in report.configs)])
    return c.md_table(header, rows)
