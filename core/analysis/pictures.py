"""The findings document's pictures, written to a folder beside it (``findings-files/``).

The same matplotlib figures as the HTML report (:mod:`pocketbench.core.results.plots`):
generation speed with intervals, speed against KL divergence with the Pareto
front (when quality was measured), each configuration's speed against run
order (drift shows as a slope), and the roofline (when bandwidth was
measured).  Each picture is drawn once and saved twice: PNG (what every
format links and LaTeX includes) and SVG beside it (it scales without
blurring).  Each file is replaced atomically; the findings then carry the
pictures' paths relative to the document, so every reporter links the same
files.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from pocketbench.core.api.errors import UsageError
from pocketbench.core.kit.cache import write_atomic
from pocketbench.core.results.build import report_from_configs
from pocketbench.core.results.findings import Findings, Picture
from pocketbench.core.results.report import ConfigReport, Report


def files_dir(document: Path) -> Path:
    """``findings.md`` -> ``findings-files/`` beside it (a name every format can link to)."""
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", document.stem).strip("-") or "findings"
    return document.parent / f"{stem}-files"


def _configs(findings: Findings) -> list[ConfigReport]:
    seen: dict[str, ConfigReport] = {}
    for s in findings.sections:
        if s.decision is None:
            continue
        for row in s.decision.rows:
            if row.config is not None and row.config.n_ok and row.label not in seen:
                seen[row.label] = row.config
    return list(seen.values())


def _planned(report: Report) -> list[tuple[str, str, str, Callable[[], Any]]]:
    """(name, title, caption, draw: the matplotlib figure) of every picture the data supports."""
    from pocketbench.core.results import plots

    out: list[tuple[str, str, str, Callable[[], Any]]] = [
        (
            "generation-speed",
            "Generation speed per configuration",
            "Mean generation speed (tokens/s); whiskers: 95% confidence interval of the mean.",
            lambda: plots.bar_figure(report, ("generation_tps",)),
        )
    ]
    if sum(c.quality is not None for c in report.configs) >= 2:
        from pocketbench.core.results.pareto_plot import pareto_figure

        out.append(
            (
                "speed-quality",
                "Speed against quality",
                "Generation speed against mean KL divergence from the reference; the dashed"
                " line joins the Pareto front (faster and closer to the reference).",
                lambda: pareto_figure(report),
            )
        )
    out.append(
        (
            "speed-by-run",
            "Speed against run order",
            "Each configuration's speed in the order its runs were measured: a slope is drift"
            " (or throttling, when temperatures or clocks show it); red rings mark outliers.",
            lambda: plots.runs_figure(report),
        )
    )
    if any(c.bandwidth and c.bandwidth.bytes_per_token for c in report.configs):
        out.append(
            (
                "roofline",
                "Decode speed under the memory-bandwidth roof",
                "Generation speed against the bytes a decode step reads, under each device's"
                " measured bandwidth; the distance below the roof is the MBU.",
                lambda: plots.roofline_figure(report),
            )
        )
    return out


#: Every picture name this module writes (a stale one from an earlier run is removed).
NAMES = ("generation-speed", "speed-quality", "speed-by-run", "roofline")
#: Each picture's files: PNG, linked and included everywhere, and SVG beside it.
FORMATS = ("png", "svg")


def write_pictures(findings: Findings, document: Path) -> Findings:
    """Draw the pictures, write them beside ``document``; the findings then link them."""
    configs = _configs(findings)
    if not configs:
        return findings
    from pocketbench.core.results.plots import encode

    report = report_from_configs(configs, labels=[c.label for c in configs], title=findings.title)
    folder = files_dir(document)
    pictures = []
    try:
        folder.mkdir(exist_ok=True)
        for name, title, caption, draw in _planned(report):
            figure = draw()
            for fmt in FORMATS:
                write_atomic(folder / f"{name}.{fmt}", encode(figure, fmt))
            pictures.append(
                Picture(
                    name=name,
                    title=title,
                    caption=caption,
                    path=f"{folder.name}/{name}.png",
                    svg=f"{folder.name}/{name}.svg",
                )
            )
        for stale in set(NAMES) - {p.name for p in pictures}:
            for fmt in FORMATS:
                (folder / f"{stale}.{fmt}").unlink(missing_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot write the pictures to {folder}: {exc.strerror or exc};"
            " choose another --output folder"
        ) from None
    return attrs.evolve(findings, pictures=tuple(pictures))
