"""The findings document of a study, laid out for markdown or LaTeX: the same content.

The markdown and LaTeX reporters implement ``pocketbench_render_findings`` with it.
"""

from __future__ import annotations

from pocketbench.core.analysis.findings import Findings, Table
from pocketbench.core.results import present as c
from pocketbench.core.results.report import metric_spec
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
    return (
        templating.environment(kind)
        .get_template(template)
        .render(f=findings, table=lambda t: tables[id(t)])
    )


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
    if fmt == "latex":
        return c.latex_table(header, rows)
    return c.md_table(header, rows)
