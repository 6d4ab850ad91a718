"""A configuration's quality as stored and reported: figures with 95% intervals.

A backend answers with means and standard errors over scored positions
(:class:`~pocketbench.core.api.quality.QualityResult`); this module turns them
into the figures every reporter shows: mean KL divergence and its 99th
percentile, top-1 agreement, perplexity and its ratio to the reference's, each
with a 95% confidence interval where one is defined (normal approximation:
thousands of positions; perplexity intervals on the log scale, so they stay
positive and asymmetric).
"""

from __future__ import annotations

import math

from attrs import frozen

from pocketbench.core.api.quality import QualityResult

#: The quality figures in the order reports show them.
QUALITY_METRICS: tuple[str, ...] = ("kl_mean", "kl_p99", "top1_agreement", "ppl", "ppl_ratio")
QUALITY_LABELS: dict[str, str] = {
    "kl_mean": "Mean KL Divergence (nats)",
    "kl_p99": "99th Percentile KL Divergence (nats)",
    "top1_agreement": "Top-1 Agreement (%)",
    "ppl": "Perplexity",
    "ppl_ratio": "Perplexity / Reference Perplexity",
}
#: z for a two-sided 95% interval.
Z95 = 1.959963984540054
QUALITY_NOTE = (
    "Quality is measured on the host with the exact model file the device ran, over the "
    "evaluation text, against the reference configuration named in the table "
    "(KL divergence of next-token distributions; docs/method.md)."
)


@frozen(kw_only=True)
class Figure:
    """One quality figure: its value and 95% interval (None where none is defined)."""

    value: float
    ci95: tuple[float, float] | None = None


@frozen(kw_only=True)
class QualityRecord:
    """What is stored with a configuration and rendered by reporters."""

    figures: dict[str, Figure]
    #: The configuration compared with, as ``backend quant model``.
    reference: str
    eval_tokens: int
    scored: int
    text_name: str
    text_sha256: str
    protocol: str
    #: How it was measured (tool, command) and where.
    method: str = ""
    is_reference: bool = False

    def value(self, name: str) -> float | None:
        f = self.figures.get(name)
        return f.value if f is not None else None


def _normal(mean: float, se: float, low: float = -math.inf, high: float = math.inf) -> Figure:
    half = Z95 * se
    return Figure(value=mean, ci95=(max(low, mean - half), min(high, mean + half)))


def _log_scale(ln_mean: float, ln_se: float) -> Figure:
    half = Z95 * ln_se
    return Figure(
        value=math.exp(ln_mean), ci95=(math.exp(ln_mean - half), math.exp(ln_mean + half))
    )


def record_from_result(
    result: QualityResult,
    *,
    reference: str,
    text_name: str,
    text_sha256: str,
    protocol: str,
    is_reference: bool,
) -> QualityRecord:
    """The stored figures of one configuration (the reference itself: KL 0, agreement 100%)."""
    figures: dict[str, Figure] = {"ppl": _log_scale(result.nll_mean, result.nll_se)}
    if is_reference:
        # Compared with itself, by definition: no measurement can do better than exact.
        figures["kl_mean"] = Figure(value=0.0, ci95=(0.0, 0.0))
        figures["kl_p99"] = Figure(value=0.0)
        figures["top1_agreement"] = Figure(value=1.0, ci95=(1.0, 1.0))
        figures["ppl_ratio"] = Figure(value=1.0, ci95=(1.0, 1.0))
    else:
        if result.kl_mean is not None:
            figures["kl_mean"] = _normal(result.kl_mean, result.kl_se or 0.0, low=0.0)
        if result.kl_p99 is not None:
            figures["kl_p99"] = Figure(value=result.kl_p99)
        if result.top1 is not None:
            figures["top1_agreement"] = _normal(result.top1, result.top1_se or 0.0, 0.0, 1.0)
        if result.ln_ratio is not None:
            figures["ppl_ratio"] = _log_scale(result.ln_ratio, result.ln_ratio_se or 0.0)
    return QualityRecord(
        figures={k: figures[k] for k in QUALITY_METRICS if k in figures},
        reference=reference,
        eval_tokens=result.eval_tokens,
        scored=result.scored,
        text_name=text_name,
        text_sha256=text_sha256,
        protocol=protocol,
        method=result.method,
        is_reference=is_reference,
    )


def display(name: str, value: float | None) -> str:
    """A figure as tables print it (agreement in percent)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if name == "top1_agreement":
        return f"{100 * value:.1f}"
    if name in ("kl_mean", "kl_p99"):
        return f"{value:.4f}"
    return f"{value:.3f}" if name == "ppl_ratio" else f"{value:.2f}"


def display_figure(name: str, figure: Figure | None) -> str:
    """``value [low, high]`` for tables."""
    if figure is None:
        return "n/a"
    text = display(name, figure.value)
    if figure.ci95 is not None and figure.ci95[0] != figure.ci95[1]:
        text += f" [{display(name, figure.ci95[0])}, {display(name, figure.ci95[1])}]"
    return text


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of (speed, KL) points no other point beats on both (faster and closer).

    A point is dominated when another is at least as fast and at most as far
    from the reference, and strictly better in one of the two.
    """
    front = []
    for i, (s, k) in enumerate(points):
        if not (math.isfinite(s) and math.isfinite(k)):
            continue
        dominated = any(
            (s2 >= s and k2 <= k and (s2 > s or k2 < k))
            for j, (s2, k2) in enumerate(points)
            if j != i and math.isfinite(s2) and math.isfinite(k2)
        )
        if not dominated:
            front.append(i)
    return front
