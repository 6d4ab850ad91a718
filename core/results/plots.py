"""Matplotlib figures of the HTML report and the findings document (Agg, no pyplot state; PNG or SVG bytes out).

Public through :mod:`pocketbench.plugin`, so a third-party reporter draws the same pictures.
"""

from __future__ import annotations

import io
import math
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from pocketbench.core.api.errors import PocketbenchError
from pocketbench.core.kit.cache import cache_dir
from pocketbench.core.results.latency import steps_by_position
from pocketbench.core.results.report import CORE_METRICS, Report, metric_spec


def _text(label: str, width: int = 38) -> str:
    # "$" would switch matplotlib into mathtext; user labels are plain text.
    return textwrap.fill(label.replace("$", r"\$"), width)


def _quiet_matplotlib() -> None:
    """Matplotlib's notes about its own set-up are not the report's business.

    Without a writable ``~/.config/matplotlib`` it warns on every import
    and rebuilds its font cache in a temporary folder; pocketbench's cache
    gives it a lasting one, and its remaining set-up warnings are silenced.
    """
    import contextlib
    import logging
    import os

    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    if "MPLCONFIGDIR" not in os.environ:
        # Without one, matplotlib makes a temporary folder (silently now).
        with contextlib.suppress(PocketbenchError):
            os.environ["MPLCONFIGDIR"] = str(cache_dir("matplotlib"))


def _figure(width: float, height: float) -> Any:
    _quiet_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def encode(fig: Any, fmt: str = "png") -> bytes:
    """A figure as PNG or SVG bytes; one figure saves to both, drawn once."""
    buf = io.BytesIO()
    if fmt == "svg":
        from matplotlib import rc_context

        # No date and fixed element ids: the same figure gives the same file.
        with rc_context({"svg.hashsalt": "pocketbench"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
    else:
        fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _png(fig: Any) -> bytes:
    return encode(fig, "png")


def _colors(n: int) -> list[Any]:
    _quiet_matplotlib()
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def bar_chart(report: Report, metrics: Sequence[str] = CORE_METRICS) -> bytes:
    """Mean of each speed metric per configuration, error bars the 95% CI."""
    return _png(bar_figure(report, metrics))


def bar_figure(report: Report, metrics: Sequence[str] = CORE_METRICS) -> Any:
    """:func:`bar_chart`'s figure, to :func:`encode` as PNG or SVG."""
    configs = report.configs
    colors = _colors(len(configs))
    height = 1.2 + 0.45 * len(configs)
    fig = _figure(11 if len(metrics) > 1 else 8, max(2.6, height))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    labels = [_text(c.label) for c in configs]
    positions = list(range(len(configs)))[::-1]
    for ax, metric in zip(axes, metrics):
        means, low, high = [], [], []
        for c in configs:
            s = c.summary(metric)
            m = s.mean if s.n else math.nan  # no bar rather than a zero bar
            means.append(m)
            lo, hi = s.ci95
            low.append(m - lo if s.n > 1 and lo == lo else 0.0)
            high.append(hi - m if s.n > 1 and hi == hi else 0.0)
        ax.barh(
            positions,
            means,
            color=colors,
            xerr=[low, high],
            capsize=4,
            error_kw={"elinewidth": 1.2, "ecolor": "#222"},
        )
        ax.set_title(metric_spec(metric).label, fontsize=10)
        ax.set_xlabel("tokens/s (bars: mean, whiskers: 95% CI)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    axes[0].set_yticks(positions, labels, fontsize=8)
    return fig


def runs_chart(report: Report) -> bytes:
    """Speed against run index per configuration; temperature on a second axis."""
    return _png(runs_figure(report))


def runs_figure(report: Report) -> Any:
    """:func:`runs_chart`'s figure, to :func:`encode` as PNG or SVG."""
    configs = report.configs
    colors = _colors(len(configs))
    metrics = ("generation_tps", "prompt_tps")
    with_temps = any(c.temperatures for c in configs)
    fig = _figure(11, 3.4 * len(metrics) + 0.4 * len(configs))
    axes = fig.subplots(len(metrics), 1, sharex=True)
    for ax, metric in zip(axes, metrics):
        twin = ax.twinx() if with_temps else None
        for c, color in zip(configs, colors):
            idx = [i + 1 for i in c.ok_indices(metric)]
            values = list(c.samples(metric))
            if not values:
                continue
            # Throttling only where the clocks show it; a fall in speed alone is drift.
            drop = c.freq_drop
            hot = drop is not None and drop.throttling
            mark = (
                "  [likely throttling]" if hot else "  [speed fell: drift]" if c.throttling else ""
            )
            label = c.label + mark
            ax.plot(idx, values, marker="o", color=color, label=_text(label, 70))
            s = c.summary(metric)
            if s.outliers:
                ax.scatter(
                    [idx[i] for i in s.outliers],
                    [values[i] for i in s.outliers],
                    s=160,
                    facecolors="none",
                    edgecolors="red",
                    linewidths=1.5,
                    zorder=3,
                )
            if twin is not None:
                temps = [
                    (r.index + 1, r.temperature_c) for r in c.runs if r.temperature_c is not None
                ]
                if temps:
                    twin.plot(
                        [t[0] for t in temps],
                        [t[1] for t in temps],
                        linestyle="--",
                        color=color,
                        alpha=0.6,
                        marker=".",
                    )
        ax.set_ylabel(f"{metric_spec(metric).short} (tokens/s)", fontsize=9)
        ax.grid(alpha=0.3)
        if twin is not None:
            twin.set_ylabel("device temperature (°C), dashed", fontsize=9)
    axes[-1].set_xlabel("measured run")
    axes[-1].xaxis.get_major_locator().set_params(integer=True)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=1 if len(handles) > 3 else len(handles),
            fontsize=8,
            frameon=False,
        )
    axes[0].set_title("Per-run speed (red rings: outliers by Tukey's fences, kept)", fontsize=10)
    return fig


def roofline_chart(report: Report) -> bytes:
    """Generation speed against bytes read per token, under each device's bandwidth roof.

    A roof is tokens/s = measured bandwidth / bytes per token (a line of slope
    -1 on log axes); a point's distance below its device's roof is its MBU.
    """
    return _png(roofline_figure(report))


def roofline_figure(report: Report) -> Any:
    """:func:`roofline_chart`'s figure, to :func:`encode` as PNG or SVG."""
    configs = [c for c in report.configs if c.bandwidth and c.bandwidth.bytes_per_token]
    colors = _colors(len(configs))
    fig = _figure(8, 5)
    ax = fig.subplots()
    sizes = [c.bandwidth.bytes_per_token for c in configs]  # type: ignore[union-attr]
    lo, hi = min(sizes) / 2, max(sizes) * 2
    roofs: dict[str, tuple[float, str]] = {}
    for c in configs:
        b = c.bandwidth
        if b is not None and b.device is not None and c.device not in roofs:
            # The roof is as old as its probe: the time says which minute it describes.
            when = (
                time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(b.probe.measured_at))
                if b.probe
                else "?"
            )
            roofs[c.device] = (b.device.mean, when)
    for (device, (gbps, when)), style in zip(roofs.items(), ("-", "--", ":", "-.") * 8):
        xs = [lo, hi]
        ax.plot([x / 1e6 for x in xs], [gbps * 1e9 / x for x in xs], style, color="#444",
                label=_text(f"{device}: {gbps:.1f} GB/s probed {when} (100% MBU)"))  # fmt: skip
    for c, color in zip(configs, colors):
        s = c.summary("generation_tps")
        if not s.n:
            continue
        lo_ci, hi_ci = s.ci95
        err = [[s.mean - lo_ci], [hi_ci - s.mean]] if s.n > 1 and lo_ci == lo_ci else None
        x = c.bandwidth.bytes_per_token / 1e6  # type: ignore[union-attr]
        ax.errorbar([x], [s.mean], yerr=err, fmt="o", color=color, capsize=4,
                    label=_text(c.label))  # fmt: skip
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 700, not 7 x 10^2
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlabel("bytes read per generated token (MB)")
    ax.set_ylabel("generation speed (tokens/s; whiskers: 95% CI)")
    ax.set_title("Decode speed under the measured memory-bandwidth roof", fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return fig


def position_chart(report: Report) -> bytes | None:
    """Each decode step's time against its position (median over runs) per configuration.

    None when no configuration has usable per-token times.
    """
    series = [(c.label, steps_by_position(c.records)) for c in report.configs]
    series = [(label, points) for label, points in series if points]
    if not series:
        return None
    fig = _figure(9, 4)
    ax = fig.subplots()
    for (label, points), color in zip(series, _colors(len(series))):
        ax.plot(
            [p for p, _ in points], [ms for _, ms in points], color=color, lw=1, label=_text(label)
        )
    ax.set_xlabel("Decode step (position after the prompt)")
    ax.set_ylabel("Step time (ms), median over runs")
    ax.set_title("Decode time against position", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)
