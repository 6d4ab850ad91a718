"""``bench compare``: regressions and improvements between two stored campaigns."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from pocketbench.core.api.errors import UsageError
from pocketbench.core.cli.common import db_option


def add_commands(group: click.Group) -> None:
    @group.command("compare")
    @click.argument("old")
    @click.argument("new")
    @db_option
    @click.option(
        "--threshold",
        type=float,
        default=5.0,
        show_default=True,
        help="Noise threshold: smaller relative changes (PCT) are never flagged.",
    )
    @click.option(
        "--alpha",
        type=float,
        default=0.05,
        show_default=True,
        help="Significance level of Welch's test (Holm-corrected).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def compare_cmd(
        old: str, new: str, db: str, threshold: float, alpha: float, as_json: bool
    ) -> None:
        """Compare two stored campaigns: regressions and improvements beyond noise."""
        from pocketbench.core.analysis.compare import compare_campaigns, format_comparison
        from pocketbench.core.kit import checks
        from pocketbench.core.results.store import Store

        if not 0 < alpha < 1:
            raise UsageError(f"--alpha must be between 0 and 1 (got {alpha})")
        # nan compares false with everything: it would flag nothing, silently.
        threshold = checks.number("--threshold", threshold, 0.0, 1000.0)
        with Store.open(db, create=False, write=False) as store:
            comparison = compare_campaigns(store, old, new, threshold_pct=threshold, alpha=alpha)
        click.echo(comparison_json(comparison) if as_json else format_comparison(comparison))


def comparison_json(comparison: Any) -> str:
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
