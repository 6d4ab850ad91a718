"""What the findings document says about the order of a study's runs and the device's drift.

The Method's line on the order (interleaved rounds and their seed, or
sequential) and the analysis it allows, the drift line under Statistics and
the throttling caveat, both from the drift model across every configuration
of a device (:func:`pocketbench.core.results.paired.device_drift`).  The
paired comparison itself is :func:`pocketbench.core.results.paired.compare_by_round`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pocketbench.core.engine.rounds import Design
from pocketbench.core.results.paired import Drift, device_drift
from pocketbench.core.results.present import pvalue
from pocketbench.core.results.report import ConfigReport

if TYPE_CHECKING:
    from pocketbench.core.results.store import Store


def stored_design(store: Store, campaign: str) -> Design | None:
    """The order and seed ``campaign`` was measured with (None: stored before designs)."""
    return Design.from_json(store.campaign_design(campaign))


def drifts(store: Store, campaign: str, present: Sequence[ConfigReport]) -> list[tuple[str, Drift]]:
    """Each device's drift across its configurations' runs (generation speed)."""
    out = []
    for device in dict.fromkeys(r.device for r in present if r.imported is None):
        mine = [r for r in present if r.device == device and r.campaign == campaign]
        d = device_drift(mine, store.run_places(campaign, device))
        if d is not None:
            out.append((device, d))
    return out


def design_text(design: Design | None) -> str:
    """The Method's line on the order of the runs, its seed and the analysis it allows."""
    if design is None or not design.interleaved:
        return (
            "Order: sequential: each configuration's runs back to back, one configuration"
            " after another; configurations are compared as independent samples (Welch's"
            " t-test, Fieller's interval), so a device that drifts during the study biases"
            " the comparisons (see the drift line under Statistics)."
        )
    return (
        f"Order: interleaved rounds, seed {design.seed}: every configuration of a device was"
        " prepared first, then each round ran every configuration once in an order shuffled"
        " from the seed (`order`, `seed` in the study file replay it). Two configurations"
        " measured in the same rounds are compared by round: the mean of the per-round log"
        " ratios with Student's t interval (n - 1 degrees of freedom) and a paired t-test;"
        " a drift of the device cancels within each round."
    )


def drift_text(device: str, d: Drift) -> str:
    """One line: how the device's speed changed per run, across all its configurations."""
    lo, hi = d.pct_ci
    verb = "slowed" if d.pct_per_run < 0 else "sped up"
    return (
        f"Drift on {device}: generation speed {verb} {abs(d.pct_per_run):.2f}% per run"
        f" (95% CI [{lo:+.2f}%, {hi:+.2f}%], {pvalue(d.pvalue)}), {d.total_pct:+.1f}% from"
        f" the first to the last of its {d.n} runs; least squares of log speed on each"
        f" run's place in time with one level per configuration ({d.configurations})."
    )


def drift_caveat(device: str, d: Drift, design: Design | None) -> str:
    """The throttling caveat, from the drift model across every configuration of a device."""
    what = (
        "the interleaved rounds keep it out of the comparisons, but every mean is below what a"
        " cool, idle device gives"
        if design is not None and design.interleaved
        else "the runs were made in sequence, so configurations measured later were measured"
        " on a slower device and the comparisons carry that bias; run the study with"
        ' order = "interleaved"'
    )
    return (
        f"{device}: likely throttling: the device slowed {abs(d.pct_per_run):.2f}% per run"
        f" ({d.total_pct:+.1f}% over the study, {pvalue(d.pvalue)}), whatever configuration"
        f" ran; {what}."
    )
