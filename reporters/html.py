"""HTML reporter: one self-contained page with tables and plots (PNG embedded as base64)."""

from __future__ import annotations

import base64

from markupsafe import Markup

from pocketbench import report as c
from pocketbench.report import Report, ReporterInfo, ReportOptions, hookimpl
from pocketbench.reporters import templating


@hookimpl
def pocketbench_reporter_info() -> ReporterInfo:
    return ReporterInfo(
        description="Self-contained HTML page with tables, CI bar chart and per-run plots",
        extension="html",
    )


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    return render(report, options)


def render(report: Report, options: ReportOptions) -> str:
    from pocketbench.report import (
        bar_chart,
        pareto_chart,
        position_chart,
        roofline_chart,
        runs_chart,
    )

    images = {}
    if report.configs:
        images = {
            "bars": _data_uri(bar_chart(report)),
            "runs": _data_uri(runs_chart(report)),
        }
        if report.has_quality:
            images["pareto"] = _data_uri(pareto_chart(report))
        if any(k.bandwidth and k.bandwidth.bytes_per_token for k in report.configs):
            images["roofline"] = _data_uri(roofline_chart(report))
        positions = position_chart(report)
        if positions is not None:
            images["positions"] = _data_uri(positions)
    rows = c.bandwidth_rows([(k.label, k.bandwidth) for k in report.configs], options.plusminus)
    return (
        templating.environment("html")
        .get_template("report.html.j2")
        .render(
            report=report,
            options=options,
            title=options.title or report.title,
            pm=lambda cfg, m: c.pm_text(cfg.summary(m), m, options.plusminus),
            plusminus_text=c.plusminus_text(options),
            images=images,
            bandwidth_rows=rows,
            BANDWIDTH_NOTE=c.BANDWIDTH_NOTE,
        )
    )


def _data_uri(png: bytes) -> Markup:
    return Markup("data:image/png;base64," + base64.b64encode(png).decode("ascii"))
