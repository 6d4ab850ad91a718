"""Presentation helpers for every reporter: escaping, numbers, ± text, tables.

Public through :mod:`pocketbench.plugin`, so a third-party reporter formats a
figure, escapes a model name or lays out the summary table exactly as the
built-in ones do.  Escapers return :class:`markupsafe.Markup` or plain text;
a value that reaches markdown, LaTeX or HTML goes through one of them.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup

from pocketbench.core.results.names import short_name
from pocketbench.core.results.report import (
    PLUSMINUS_TEXT,
    ConfigReport,
    Report,
    ReportOptions,
    metric_spec,
)
from pocketbench.core.results.stats import Summary

# -- escaping -------------------------------------------------------------------

# Backslash-escapable in CommonMark; the ones that matter inside a line of text
# or a table cell.  "." "-" "+" "(" ")" only matter at a line start, and
# escaping them would litter every number.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#~&!$^])")


def md_escape(value: Any) -> str:
    """Plain text for a markdown line or table cell (no markup, no raw HTML)."""
    if isinstance(value, Markup):
        return str(value)
    text = " ".join(str(value).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", text)


_LATEX_MAP = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "'": r"\textquotesingle{}",
    "`": r"\textasciigrave{}",
    "-": "-{}",  # no -- or --- ligatures in user text
    "±": r"\ensuremath{\pm}",
    "×": r"\ensuremath{\times}",
    "°": r"\ensuremath{^\circ}",
    "µ": r"\ensuremath{\mu}",
    "–": "--",
    "—": "---",
    "…": r"\ldots{}",
    "\u201c": "``",
    "\u201d": "''",
    "\u2018": "`",
    "\u2019": "'",
    "−": r"\ensuremath{-}",
    "∞": r"\ensuremath{\infty}",
    "≈": r"\ensuremath{\approx}",
    "≤": r"\ensuremath{\le}",
    "≥": r"\ensuremath{\ge}",
    "→": r"\ensuremath{\to}",
    "\u2713": r"\ensuremath{\checkmark}",
    "·": r"\textperiodcentered{}",
    "\u00a0": "~",
}


def latex_escape(value: Any) -> str:
    """Text safe in a LaTeX paragraph or table cell (pdflatex, T1 fonts).

    Characters pdflatex cannot typeset (outside Latin-1) are written as their
    code point rather than breaking the build.
    """
    if isinstance(value, Markup):
        return str(value)
    out = []
    for ch in " ".join(str(value).splitlines()):
        if ch in _LATEX_MAP:
            out.append(_LATEX_MAP[ch])
        elif ch < " " or ch == "\x7f":
            out.append(" ")
        elif ord(ch) < 0x80 or 0xA1 <= ord(ch) <= 0xFF and ord(ch) != 0xAD:
            out.append(ch)
        else:
            out.append(rf"\texttt{{[U+{ord(ch):04X}]}}")
    return "".join(out)


_LONG_WORD = re.compile(r"(?<![\\A-Za-z0-9])[A-Za-z0-9]{17,}")


def latex_breakable(value: Any) -> Markup:
    """Escaped text that may break after / . _ - : = , …, and inside long words (hashes)."""
    escaped = latex_escape(value)
    escaped = re.sub(r"(/|\.|\\_|-|:|=|,|\\ldots\{\})", r"\1\\allowbreak{}", escaped)
    # A sha256 has no punctuation to break at; without this it runs off the page.
    escaped = _LONG_WORD.sub(
        lambda m: r"\allowbreak{}".join(m[0][i : i + 8] for i in range(0, len(m[0]), 8)),
        escaped,
    )
    return Markup(escaped)


# -- numbers --------------------------------------------------------------------


def num(value: float | None, decimals: int = 2) -> str:
    """A figure with ``decimals`` places; "n/a" for a missing or not-a-number one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{decimals}f}"


def spread(summary: Summary, plusminus: str) -> float:
    return summary.stdev if plusminus == "sd" else summary.half_width


def pm_parts(summary: Summary, metric: str, plusminus: str) -> tuple[str, str | None]:
    """(mean, spread) formatted for ``metric``; spread None when undefined."""
    spec = metric_spec(metric)
    if summary.n == 0 and math.isnan(summary.mean):  # n = 0 with a mean: imported, n unknown
        return "n/a", None
    mean = num(summary.mean * spec.scale, spec.decimals)
    s = spread(summary, plusminus)
    if math.isnan(s):
        return mean, None
    return mean, num(s * spec.scale, spec.decimals)


def interval_parts(summary: Summary, metric: str) -> tuple[str, str, str] | None:
    """(mean, low, high) of the 95% confidence interval; None when undefined."""
    spec = metric_spec(metric)
    low, high = summary.ci95
    if summary.n < 2 or math.isnan(low):
        return None
    return tuple(num(v * spec.scale, spec.decimals) for v in (summary.mean, low, high))  # type: ignore[return-value]


def pm_text(summary: Summary, metric: str, plusminus: str) -> str:
    """``4.48 ± 0.11`` (the Galaxy A25 study's style), or ``4.48 [4.37, 4.60]`` for the CI.

    The confidence interval is shown as its two ends because it is computed
    on the log scale and is not symmetric about the mean.
    """
    if plusminus == "ci" and (parts := interval_parts(summary, metric)) is not None:
        mean, low, high = parts
        return f"{mean} [{low}, {high}]"
    mean, s = pm_parts(summary, metric, plusminus)
    return mean if s is None else f"{mean} ± {s}"


def plusminus_text(options: ReportOptions) -> str:
    """The sentence saying what "±" means in this report (sample SD or 95% CI)."""
    return PLUSMINUS_TEXT[options.plusminus]


def pvalue(p: float) -> str:
    """``p = 0.023`` / ``p < 0.0001``."""
    if p is None or math.isnan(p):
        return "p n/a"
    if p < 0.0001:
        return "p < 0.0001"
    return f"p = {p:.4f}" if p < 0.01 else f"p = {p:.3f}"


def when(timestamp: float) -> str:
    """A timestamp as local date, time and zone ("2026-12-06 04:30 UTC")."""
    return _dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def workload_text(config: ConfigReport) -> str:
    """The workload in words: prompt and generated tokens, threads, cores."""
    w = config.workload
    text = (
        f"{w.prompt_tokens} prompt tokens, {w.gen_tokens} generated tokens (end of sequence"
        f" ignored), {w.threads} thread{'s' if w.threads != 1 else ''}"
    )
    if w.prompt is not None:
        text += f", prompt text \u201c{shorten(w.prompt, 80)}\u201d"
    if w.cores:
        from pocketbench.core.results.devicestate import cores_text

        text += f", pinned to {cores_text(config)}"
    return text


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def notes(config: ConfigReport, plusminus: str) -> list[str]:
    """Plain-text observations about one configuration: failures, outliers, trends."""
    out: list[str] = []
    if config.n_failed:
        out.append(
            f"{config.n_failed} of {len(config.runs)} measured runs failed (raw output stored)."
        )
    for metric, s in config.summaries.items():
        if s.outliers:
            spec = metric_spec(metric)
            idx = config.ok_indices(metric)
            flagged = ", ".join(
                f"run {idx[i] + 1} ({num(s.samples[i] * spec.scale, spec.decimals)})"
                for i in s.outliers
            )
            out.append(f"Outliers in {spec.short} (Tukey's fences; kept): {flagged}.")
    throttled = throttling_text(config)
    if throttled:
        out.append(f"{throttled[0].upper()}{throttled[1:]}.")
    from pocketbench.core.results import devicestate, energy

    out += devicestate.notes(config) + energy.notes(config)
    temps = config.temperatures
    if temps:
        out.append(f"Device temperature after runs: {min(temps):.1f} to {max(temps):.1f} °C.")
    busy = busy_host_text(config)
    if busy:
        out.append(f"{busy[0].upper()}{busy[1:]}.")
    return out


def throttling_text(config: ConfigReport) -> str | None:
    """ "likely thermal throttling: generation fell 4.2% ..." when the speed trend says so."""
    if not config.throttling:
        return None
    t = config.trends[config.throttling[0]]
    names = ", ".join(metric_spec(m).short for m in config.throttling)
    return (
        f"likely thermal throttling: {names} fell across the runs ({abs(t.change_pct):.1f}%"
        f" from first to last, OLS slope {t.slope:.3g} per run, {pvalue(t.pvalue)}); the mean"
        " is below what a cool device gives"
    )


def busy_host_text(config: ConfigReport) -> str | None:
    """ "the host was busy: ..." when the load average before a run exceeded the cores."""
    if config.busy_host is None:
        return None
    cores = config.facts.cores if config.facts else "?"
    return (
        f"the host was busy: load average up to {config.busy_host:.1f} on {cores} cores before"
        " a run; other processes competed for the CPU, so these figures may be low"
    )


# -- tables ---------------------------------------------------------------------


def md_table(
    header: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    escape: Callable[[Any], str] = lambda value: md_escape(value),
) -> Markup:
    """A padded GitHub-flavoured table; every cell escaped (``escape=str`` for a terminal).

    A long name in a cell is cut to :data:`CELL_WIDTH` (:func:`short_name`) so
    one model path cannot push the figures off the screen.
    """

    def text(value: Any) -> str:
        return escape(value if isinstance(value, Markup) else short_name(value))

    cells = [[text(c) for c in header]] + [[text(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    widths = [max(w, 3) for w in widths]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return Markup("\n".join(out))


def latex_pm(summary: Summary, metric: str, plusminus: str) -> Markup:
    """A LaTeX cell: mean ± SD, or mean [95% CI] with ``plusminus="ci"``."""
    if plusminus == "ci" and (parts := interval_parts(summary, metric)) is not None:
        mean, low, high = parts
        return Markup(f"\\mbox{{${mean}\\ [{low}, {high}]$}}")
    mean, s = pm_parts(summary, metric, plusminus)
    if s is None:
        return Markup(latex_escape(mean))
    return Markup(f"\\mbox{{${mean} \\pm {s}$}}")


def latex_table(
    header: Sequence[Any], rows: Sequence[Sequence[Any]], *, wrap_at: int = 4
) -> Markup:
    """A booktabs table; every cell escaped unless it is Markup, a long name cut (:func:`short_name`).

    Up to ``wrap_at`` value columns, the Galaxy A25 study's layout (metrics as rows) with
    column headers that wrap; beyond that, the table is transposed so it
    grows downwards instead of off the page.
    """
    first = "l"
    if len(header) - 1 > wrap_at:
        header, rows = _transpose(header, rows)
        first = ">{\\raggedright\\arraybackslash}p{0.28\\linewidth}"
    n = len(header) - 1
    spec = "@{}" + first + f"*{{{max(n, 1)}}}" + "{>{\\raggedleft\\arraybackslash}X}@{}"

    def cell(value: Any) -> str:
        return str(value) if isinstance(value, Markup) else str(latex_breakable(short_name(value)))

    lines = [f"\\begin{{tabularx}}{{\\linewidth}}{{{spec}}}", "\\toprule"]
    lines.append(" & ".join(cell(h) for h in header) + " \\\\")
    lines.append("\\midrule")
    for row in rows:
        lines.append(" & ".join(cell(v) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabularx}"]
    return Markup("\n".join(lines))


def _transpose(
    header: Sequence[Any], rows: Sequence[Sequence[Any]]
) -> tuple[list[Any], list[list[Any]]]:
    new_header = [header[0], *(r[0] for r in rows)]
    new_rows = [[header[j], *(r[j] for r in rows)] for j in range(1, len(header))]
    return new_header, new_rows


def summary_rows(
    report: Report, options: ReportOptions, pm: Callable[[Summary, str, str], str]
) -> tuple[list[str], list[list[str]]]:
    """The summary table of the Galaxy A25 study: metrics as rows, configurations as columns."""
    header = ["", *(cfg.label for cfg in report.configs)]
    rows = [
        [
            report.spec(m).label,
            *(pm(cfg.summary(m), m, options.plusminus) for cfg in report.configs),
        ]
        for m in report.metrics
    ]
    rows.append(["Measured runs (n)", *(_runs_text(cfg) for cfg in report.configs)])
    rows += quality_rows(report)
    return header, rows


def _runs_text(cfg: ConfigReport) -> str:
    """The run count; an imported mean ± sd over an unstated number of runs says so."""
    imported_summary = any(s.n == 0 and not math.isnan(s.mean) for s in cfg.summaries.values())
    if cfg.n_ok == 0 and imported_summary:
        return "unknown (imported mean ± sd)"
    return str(cfg.n_ok)


def quality_rows(report: Report) -> list[list[str]]:
    """The quality rows under the speed rows (value [95% CI]), when any was measured."""
    if not report.has_quality:
        return []
    from pocketbench.core.results.quality import QUALITY_LABELS, QUALITY_METRICS, display_figure

    rows = [
        [
            QUALITY_LABELS[m],
            *(
                display_figure(m, cfg.quality.figures.get(m)) if cfg.quality else "n/a"
                for cfg in report.configs
            ),
        ]
        for m in QUALITY_METRICS
    ]
    rows.append(
        ["Quality reference", *(c.quality.reference if c.quality else "" for c in report.configs)]
    )
    return rows


def quality_notes(report: Report) -> list[str]:
    """Sentences printed under a table with quality rows (and the model's provenance)."""
    if not report.has_quality:
        return list(report.model_notes)
    from pocketbench.core.results.quality import QUALITY_NOTE

    q = next(c.quality for c in report.configs if c.quality is not None)
    text = (
        f"{QUALITY_NOTE} Quality figures are value [95% CI]; evaluation text: {q.text_name}, "
        f"{q.eval_tokens} tokens (sha256 {q.text_sha256[:12]}), {q.scored} scored positions, "
        f"protocol {q.protocol}."
    )
    return [text, *report.model_notes]
