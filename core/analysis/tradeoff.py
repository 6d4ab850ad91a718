"""What each quantization costs in quality, worded for the findings document.

For every configuration with quality figures, one sentence against its
framework's baseline: how much faster it generates and how far its
next-token distributions are from the reference ("Q4_0 generates 2.31x
faster than the baseline at a mean KL divergence of 0.071 (top-1 agreement
89%)"), then the schemes on the speed/quality Pareto front, across frameworks
when a study has several.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pocketbench.core.results.quality import pareto_front
from pocketbench.core.results.report import ConfigReport


def _speed(c: ConfigReport) -> float:
    s = c.summary("generation_tps")
    return s.mean if s.n else math.nan


def sentence(label: str, c: ConfigReport, baseline: ConfigReport | None) -> str | None:
    """One configuration's trade-off, or None when it has no quality figures."""
    q = c.quality
    if q is None:
        return None
    kl, top = q.value("kl_mean"), q.value("top1_agreement")
    ratio = q.value("ppl_ratio")
    if q.is_reference:
        ppl = q.value("ppl")
        return (
            f"{label} is the quality reference (perplexity {ppl:.2f} on the evaluation text)."
            if ppl is not None
            else None
        )
    speed = ""
    if baseline is not None and baseline is not c:
        a, b = _speed(c), _speed(baseline)
        if math.isfinite(a) and math.isfinite(b) and b > 0:
            factor = a / b
            speed = (
                f"generates {factor:.2f}\u00d7 faster than the baseline"
                if factor >= 1
                else f"generates at {factor:.2f}\u00d7 the baseline's speed"
            )
    head = f"{label} {speed}" if speed else label
    # Against its own baseline (the usual case) the sentence needs no reference name.
    own = baseline is not None and baseline.quality is not None
    own = own and baseline.quality.is_reference and baseline.quality.reference == q.reference
    source = "" if own else f" from {q.reference}"
    text = f"{head} at a mean KL divergence of {kl:.3f}{source}" if kl is not None else head
    extra = []
    if top is not None:
        extra.append(f"top-1 agreement {100 * top:.0f}%")
    if ratio is not None:
        extra.append(f"perplexity \u00d7{ratio:.3f}")
    return text + (f" ({', '.join(extra)})." if extra else ".")


def pareto_sentence(labelled: Sequence[tuple[str, ConfigReport]]) -> str | None:
    """Which configurations no other beats on both speed and KL divergence."""
    with_q = [(label, c) for label, c in labelled if c.quality is not None]
    if len(with_q) < 2:
        return None
    points = [(_speed(c), c.quality.value("kl_mean") or 0.0) for _, c in with_q if c.quality]
    front = pareto_front(points)
    if not front:
        return None
    names = [with_q[i][0] for i in sorted(front, key=lambda i: -points[i][0])]
    references = sorted({c.quality.reference for _, c in with_q if c.quality})
    # Several frameworks, each measured from its own baseline: say so, the reader compares KLs.
    whose = (
        f" Each KL divergence is from its own reference: {', '.join(references)}."
        if len(references) > 1
        else ""
    )
    return (
        "On the speed/quality Pareto front (no other configuration is both faster and closer "
        f"to its reference): {', '.join(names)}.{whose}"
    )


def quality_lines(
    members: Sequence[tuple[str, ConfigReport, ConfigReport | None]],
) -> tuple[str, ...]:
    """Sentences for (label, configuration, its framework's baseline) triples."""
    lines = [s for label, c, base in members if (s := sentence(label, c, base))]
    pareto = pareto_sentence([(label, c) for label, c, _ in members])
    if pareto:
        lines.append(pareto)
    return tuple(lines)
