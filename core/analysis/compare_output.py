"""What ``bench compare`` prints: the terminal table and the JSON, from one place.

Both read the same :class:`~pocketbench.core.analysis.compare.Comparison`;
the table puts regressions first, the JSON keeps every figure (null where a
figure is not a number).
"""

from __future__ import annotations

import json
import math

from pocketbench.core.analysis.compare import (
    IMPROVEMENT,
    REGRESSION,
    UNCHANGED,
    UNTESTABLE,
    Comparison,
)
from pocketbench.core.results.report import metric_spec
from pocketbench.core.results.stats import Summary


def comparison_text(comparison: Comparison) -> str:
    """A plain-text table for the terminal, regressions first."""
    order = {REGRESSION: 0, IMPROVEMENT: 1, UNTESTABLE: 2, UNCHANGED: 3}
    rows = [
        (
            "",
            "configuration",
            "metric",
            comparison.old,
            comparison.new,
            "change",
            "95% CI",
            "p (adj.)",
        )
    ]
    for c in sorted(comparison.changes, key=lambda c: (order[c.verdict], c.label, c.metric)):
        spec = metric_spec(c.metric)
        lo, hi = c.ratio.pct_ci
        ci = f"[{lo:+.1f}%, {hi:+.1f}%]" if c.ratio.bounded else "unbounded"
        rows.append(
            (
                {REGRESSION: "REGRESSION", IMPROVEMENT: "improved", UNTESTABLE: "n/a"}.get(
                    c.verdict, ""
                ),
                c.label,
                spec.short,
                _mean(c.old, spec.scale, spec.decimals),
                _mean(c.new, spec.scale, spec.decimals),
                f"{c.change_pct:+.1f}%" if not math.isnan(c.change_pct) else "n/a",
                ci,
                "n/a" if math.isnan(c.p_adjusted) else f"{c.p_adjusted:.3g}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    corr = (
        "no correction" if comparison.correction == "none" else f"{comparison.correction}-corrected"
    )
    lines.append("")
    lines.append(
        f"{len(comparison.regressions)} regression(s), {len(comparison.improvements)} improvement(s):"
        f" flagged when the change exceeds {comparison.threshold_pct:g}% and Welch's test is significant"
        f" (p < {comparison.alpha:g}, {corr}); change = new mean / old mean - 1."
    )
    for line in comparison.paired:
        lines.append(f"compared across an import: {line}")
    for label in comparison.only_old:
        lines.append(f"only in {comparison.old}: {label}")
    for label in comparison.only_new:
        lines.append(f"only in {comparison.new}: {label}")
    return "\n".join(lines)


def comparison_json(comparison: Comparison) -> str:
    """``bench compare --json``: every change in the comparison's order, numbers or null."""

    def num(v: float) -> float | None:
        return v if isinstance(v, float) and math.isfinite(v) else None

    data = {
        "old": comparison.old,
        "new": comparison.new,
        "threshold_pct": comparison.threshold_pct,
        "alpha": comparison.alpha,
        "correction": comparison.correction,
        "changes": [
            {
                "config_key": c.config_key,
                "label": c.label,
                "metric": c.metric,
                "verdict": c.verdict,
                "old_mean": num(c.old.mean),
                "new_mean": num(c.new.mean),
                "change_pct": num(c.change_pct),
                "change_pct_ci95": [num(v) for v in c.ratio.pct_ci],
                "pvalue": num(c.welch.pvalue),
                "p_adjusted": num(c.p_adjusted),
            }
            for c in comparison.changes
        ],
        "only_old": list(comparison.only_old),
        "only_new": list(comparison.only_new),
        "paired_across_import": list(comparison.paired),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _mean(s: Summary, scale: float, decimals: int) -> str:
    if s.n == 0 and math.isnan(s.mean):
        return "n/a"
    text = f"{s.mean * scale:.{decimals}f}"
    return text if math.isnan(s.stdev) else f"{text} ± {s.stdev * scale:.{decimals}f}"
