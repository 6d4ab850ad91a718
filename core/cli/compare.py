"""``bench compare``: regressions and improvements between two stored campaigns."""

from __future__ import annotations

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
        from pocketbench.core.analysis.compare import compare_campaigns
        from pocketbench.core.analysis.compare_output import comparison_json, comparison_text
        from pocketbench.core.kit import checks
        from pocketbench.core.results.store import Store

        if not 0 < alpha < 1:
            raise UsageError(f"--alpha must be between 0 and 1 (got {alpha})")
        # nan compares false with everything: it would flag nothing, silently.
        threshold = checks.number("--threshold", threshold, 0.0, 1000.0)
        with Store.open(db, create=False, write=False) as store:
            comparison = compare_campaigns(store, old, new, threshold_pct=threshold, alpha=alpha)
        click.echo(comparison_json(comparison) if as_json else comparison_text(comparison))
