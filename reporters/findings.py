"""The findings document of a study, laid out for markdown or LaTeX: the same content.

The markdown and LaTeX reporters implement ``pocketbench_render_findings`` with it.
The summary, decision table and comparison tables arrive as data
(:class:`~pocketbench.plugin.Findings`); this module only lays them out.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from pocketbench import report as c
from pocketbench.report import ComparisonTable, DecisionTable, Findings, Picture, Table, metric_spec
from pocketbench.reporters import templating

FORMATS = {"markdown": ("markdown", "findings.md.j2"), "latex": ("latex", "findings.tex.j2")}


def render_findings(findings: Findings, fmt: str) -> str:
    """``fmt``: "markdown" or "latex"."""
    kind, template = FORMATS[fmt]
    tables = {
        id(t): _table(t, fmt, findings.plusminus)
        for s in findings.sections
        for t in (s.framework_table, *s.quant_tables)
    }
    lay_out = c.latex_table if fmt == "latex" else c.md_table
    phones = ""
    if findings.phones is not None:
        phones = lay_out(findings.phones.header, findings.phones.rows)
    return (
        templating.environment(kind)
        .get_template(template)
        .render(
            f=findings,
            table=lambda t: tables[id(t)],
            phone_table=phones,
            decision=lambda t: lay_out(*decision_rows(t)),
            comparison=lambda t: lay_out(*comparison_rows(t)),
            text_table=lambda t: lay_out(t.header, t.rows),
            picture_path=picture_path,
        )
    )


def decision_rows(table: DecisionTable) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the decision table: a row per configuration."""
    header = ["Configuration", *(col.label for col in table.columns)]
    rows = [[row.label, *(table.text(row, col) for col in table.columns)] for row in table.rows]
    return header, rows


def comparison_rows(table: ComparisonTable) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one metric's comparisons: pair, ratio [95% CI], p, verdict."""
    header = ["Pair", "Ratio [95% CI]", table.p_label, "Verdict"]
    rows = [[f"{r.a} vs {r.b}", r.ratio_text, r.p_text, r.verdict] for r in table.rows]
    return header, rows


_SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]*")


def picture_path(picture: Picture, fmt: str = "png") -> Any:
    """The picture's relative path (``fmt`` "svg": its SVG's), verbatim.

    Verbatim because an escaped file name would name another file; so only
    plain relative names pass.
    """
    path = picture.svg if fmt == "svg" else picture.path
    if not _SAFE_PATH.fullmatch(path) or ".." in path:
        raise ValueError(f"unexpected picture path {path!r}")
    return Markup(path)


def _table(table: Table, fmt: str, plusminus: str) -> str:
    header = ["", *(col.label for col in table.columns)]
    rows = []
    for m in table.metrics:
        cells = []
        for col in table.columns:
            summary = col.config.summary(m) if col.config else None
            if summary is None:
                cells.append("n/a")
            elif fmt == "latex":
                cells.append(c.latex_pm(summary, m, plusminus))
            else:
                cells.append(c.pm_text(summary, m, plusminus))
        rows.append([metric_spec(m).label, *cells])
    rows.append(
        [
            "Measured runs (n)",
            *(str(col.config.n_ok) if col.config else "0" for col in table.columns),
        ]
    )
    rows += _quality_rows(table)
    if fmt == "latex":
        return c.latex_table(header, rows)
    return c.md_table(header, rows)


def _quality_rows(table: Table) -> list[list[str]]:
    """Quality figures under the speed rows, when any column has them."""
    configs = [col.config for col in table.columns]
    if not any(cfg is not None and cfg.quality is not None for cfg in configs):
        return []
    from pocketbench.report import QUALITY_LABELS, QUALITY_METRICS, display_figure

    return [
        [
            QUALITY_LABELS[m],
            *(
                display_figure(m, cfg.quality.figures.get(m))
                if cfg is not None and cfg.quality is not None
                else "n/a"
                for cfg in configs
            ),
        ]
        for m in QUALITY_METRICS
    ]
