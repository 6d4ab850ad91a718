"""Speed against context length: a study's ``prompt_tokens`` list, as data and as a picture.

Each depth of ``workload.prompt_tokens = [64, 512, 2048]`` is its own
configuration; here the configurations that differ only in depth are put
back into one series, so generation speed can be read (and drawn) against
depth per configuration, with the 95% interval of each point.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from pocketbench.core.results.report import ConfigReport
from pocketbench.core.results.stats import Summary

if TYPE_CHECKING:
    from pocketbench.core.analysis.study import Study
    from pocketbench.core.analysis.study_run import StudyConfig
    from pocketbench.core.results.store import Store


@frozen(kw_only=True)
class DepthSeries:
    """One configuration (everything but the depth) and its speed at each depth."""

    label: str
    #: (prompt tokens, generation-speed summary over the runs), by depth.
    points: tuple[tuple[int, Summary], ...]


def depth_series(configs: Sequence[tuple[str, ConfigReport]]) -> list[DepthSeries]:
    """Series of the configurations that differ only in prompt length (two depths or more).

    ``configs``: (label without the depth, configuration) pairs, e.g. the
    findings' columns; configurations measured at one depth form no series.
    """
    groups: dict[tuple[object, ...], tuple[str, list[tuple[int, Summary]]]] = {}
    for label, c in configs:
        w = c.workload
        key = (
            c.backend, c.quant, c.model, c.device, w.gen_tokens, w.threads,
            w.placement, w.prompt, tuple(sorted(c.options.items())),
        )  # fmt: skip
        entry = groups.setdefault(key, (label, []))
        entry[1].append((w.prompt_tokens, c.summary("generation_tps")))
    return [
        DepthSeries(label=label, points=tuple(sorted(points, key=lambda p: p[0])))
        for label, points in groups.values()
        if len({d for d, _ in points}) > 1
    ]


def write_depth_picture(series: Sequence[DepthSeries], path: Path) -> None:
    """Generation speed against depth, one line per configuration, 95% CI bars (PNG and SVG)."""
    import math

    from matplotlib.figure import Figure

    from pocketbench.core.kit.cache import write_atomic
    from pocketbench.core.results.plots import encode

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for s in series:
        depths = [d for d, _ in s.points]
        means = [p.mean if p.n else math.nan for _, p in s.points]
        low = [m - p.ci95[0] if p.n > 1 and math.isfinite(p.ci95[0]) else 0.0
               for m, (_, p) in zip(means, s.points)]  # fmt: skip
        high = [p.ci95[1] - m if p.n > 1 and math.isfinite(p.ci95[1]) else 0.0
                for m, (_, p) in zip(means, s.points)]  # fmt: skip
        ax.errorbar(
            depths, means, yerr=[low, high], marker="o", capsize=4,
            label=s.label.replace("$", r"\$"),
        )  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlabel("Context depth (prompt tokens before generation)")
    ax.set_ylabel("Generation speed (tokens/s)")
    ax.set_title("Decode speed against context depth (mean, 95% CI)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    write_atomic(path, encode(fig, "png"))
    write_atomic(path.with_suffix(".svg"), encode(fig, "svg"))  # the same picture, scalable


def picture_path(output: str | None, study_name: str) -> Path:
    """Beside the findings document (``NAME-depth.png``), or in the working directory."""
    if output and output != "-":
        out = Path(output)
        return out.with_name(f"{out.stem}-depth.png")
    return Path(f"{study_name}-depth.png")


def study_depth_picture(
    study: Study, configs: Sequence[StudyConfig], store: Store, output: str | None
) -> Path | None:
    """Write the study's speed-against-depth picture; None when it sweeps no depths."""
    if len(study.workload.depths) < 2:
        return None
    from pocketbench.core.results.build import configurations

    stored = {c.config_key: c for c in configurations(store, study.name)}
    pairs = []
    for sc in configs:
        found = stored.get(sc.job.config_key())
        if found is None:
            continue
        label = f"{sc.framework.name} {sc.quant_label}"
        if len(study.models) > 1 or len(study.devices) > 1:
            label += f" ({sc.job.model} on {sc.job.device})"
        if sc.job.workload.placement:
            label += f", cores {sc.job.workload.placement}"
        pairs.append((label, found))
    series = depth_series(pairs)
    if not series:
        return None
    path = picture_path(output, study.name or "study")
    write_depth_picture(series, path)
    return path
