"""The speed-versus-quality plot of the HTML report and the findings, Pareto front marked."""

from __future__ import annotations

import math
from typing import Any

from pocketbench.core.results.plots import _colors, _figure, _png, _text
from pocketbench.core.results.quality import pareto_front
from pocketbench.core.results.report import Report


def points(report: Report) -> list[tuple[float, float]]:
    """(mean generation speed, mean KL divergence) per configuration (NaN where unknown)."""
    out = []
    for c in report.configs:
        s = c.summary("generation_tps")
        kl = c.quality.value("kl_mean") if c.quality is not None else None
        out.append((s.mean if s.n else math.nan, kl if kl is not None else math.nan))
    return out


def pareto_chart(report: Report) -> bytes:
    """Generation speed (x) against mean KL divergence (y); the front is joined by a line."""
    return _png(pareto_figure(report))


def pareto_figure(report: Report) -> Any:
    """:func:`pareto_chart`'s figure, to encode as PNG or SVG (``plots.encode``)."""
    pts = points(report)
    front = sorted(pareto_front(pts), key=lambda i: pts[i][0])
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    for i, ((s, k), color) in enumerate(zip(pts, _colors(len(pts)))):
        if math.isfinite(s) and math.isfinite(k):
            ax.scatter([s], [k], color=color, s=60, zorder=3, label=_text(report.configs[i].label))
    if front:
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "--", color="#444",
                zorder=2, label="Pareto front (faster and closer to the reference)")  # fmt: skip
    ax.set_xlabel("Generation speed (tokens/s, mean)")
    ax.set_ylabel("Mean KL divergence from the reference (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig
