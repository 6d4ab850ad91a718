"""Jinja environments of the built-in reporters' templates.

Every environment escapes by default: markdown and LaTeX through Jinja's
``finalize`` (each ``{{ value }}`` is escaped unless it is a
:class:`markupsafe.Markup` produced by a trusted filter), HTML through
Jinja's autoescape.  A template cannot forget to escape a model name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from markupsafe import Markup

from pocketbench.report import (
    BANDWIDTH_NOTE,
    TOTAL_DEFINITION,
    Report,
    ReportOptions,
    facts_lines,
    latex_breakable,
    latex_escape,
    latex_table,
    md_escape,
    md_table,
    metric_spec,
    notes,
    num,
    plusminus_text,
    pvalue,
    quality_notes,
    quality_rows,
    short_name,
    when,
    workload_text,
)


def _finalizer(escape: Callable[[Any], str]) -> Callable[[Any], Any]:
    def finalize(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, Markup):
            return value
        return escape(value)

    return finalize


COMMON_GLOBALS: dict[str, Any] = {
    "metric_spec": metric_spec,
    "num": num,
    "pvalue": pvalue,
    "when": when,
    "facts_lines": facts_lines,
    "workload_text": workload_text,
    "notes": notes,
    "quality_notes": quality_notes,
    "quality_rows": quality_rows,
    "TOTAL_DEFINITION": TOTAL_DEFINITION,
}


@functools.cache
def environment(kind: str) -> Any:
    """The Jinja environment of one output kind: "markdown", "latex" or "html"."""
    import jinja2

    loader = jinja2.PackageLoader("pocketbench.reporters", "templates")
    common = dict(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if kind == "markdown":
        env = jinja2.Environment(autoescape=False, finalize=_finalizer(md_escape), **common)
    elif kind == "latex":
        # LaTeX is full of {{ }} and {% %}: use delimiters that never occur in it.
        env = jinja2.Environment(
            autoescape=False,
            finalize=_finalizer(latex_escape),
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((=",
            comment_end_string="=))",
            **common,
        )
        env.filters["tt"] = latex_breakable
    elif kind == "html":
        env = jinja2.Environment(autoescape=True, **common)
    else:  # pragma: no cover - programming error
        raise ValueError(kind)
    env.filters["short"] = short_name
    env.globals.update(COMMON_GLOBALS)
    return env


def render_report(
    kind: str,
    template: str,
    report: Report,
    options: ReportOptions,
    table: str,
    bandwidth_table: str = "",
) -> str:
    """Render a report template of ``kind`` ("markdown", "latex") around its summary table.

    ``bandwidth_table``: the memory-bandwidth table (MBU), empty when nothing has figures.
    The per-phone tables of a pool are drawn here, in the template's own table style.
    """
    lay_out = latex_table if kind == "latex" else md_table
    phones_table = variance_table = ""
    if report.phones is not None:
        phones_table = lay_out(report.phones.header, report.phones.rows)
        if report.phones.variance is not None:
            variance_table = lay_out(report.phones.variance.header, report.phones.variance.rows)
    return (
        environment(kind)
        .get_template(template)
        .render(
            report=report,
            options=options,
            title=options.title or report.title,
            table=table,
            bandwidth_table=bandwidth_table,
            phones_table=phones_table,
            variance_table=variance_table,
            BANDWIDTH_NOTE=BANDWIDTH_NOTE,
            plusminus_text=plusminus_text(options),
        )
    )
