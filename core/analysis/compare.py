"""Comparing two stored campaigns: regressions and improvements, the way asv and criterion do.

A change is flagged only when it is both larger than a noise threshold
(default 5%: smaller moves are within what a phone's run-to-run variation and
background load produce) *and* statistically significant (Welch's test,
Holm-corrected across every configuration and metric compared).  Either
alone is not enough: a 20% move over 2 noisy runs is not evidence, and a
0.5% move measured very precisely is not worth an alarm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from pocketbench.core.api.errors import UsageError, unknown_choice
from pocketbench.core.results.build import configurations
from pocketbench.core.results.report import CORE_METRICS, ConfigReport, metric_spec
from pocketbench.core.results.stats import (
    Ratio,
    Summary,
    Welch,
    adjust_pvalues,
    ratio,
    summarize,
    welch,
)

if TYPE_CHECKING:
    from pocketbench.core.results.store import Store

REGRESSION = "regression"
IMPROVEMENT = "improvement"
#: Beyond the threshold but not significant, or significant but within it.
UNCHANGED = "unchanged"
#: Fewer than 2 successful runs on one side.
UNTESTABLE = "untestable"


@frozen(kw_only=True)
class Change:
    """One metric of one configuration, old campaign against new."""

    config_key: str
    label: str
    metric: str
    old: Summary
    new: Summary
    welch: Welch
    #: mean(new) / mean(old) with its Fieller interval.
    ratio: Ratio
    p_adjusted: float = math.nan
    verdict: str = UNCHANGED

    @property
    def change_pct(self) -> float:
        """Relative change of the mean, new against old, in percent."""
        return self.ratio.pct


@frozen(kw_only=True)
class Comparison:
    old: str
    new: str
    threshold_pct: float
    alpha: float
    correction: str
    changes: tuple[Change, ...]
    #: Configurations stored in only one of the campaigns (labels).
    only_old: tuple[str, ...]
    only_new: tuple[str, ...]
    #: Imported and measured configurations compared although their keys differ, and why.
    paired: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == REGRESSION)

    @property
    def improvements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == IMPROVEMENT)


def compare_campaigns(
    store: Store,
    old: str,
    new: str,
    *,
    threshold_pct: float = 5.0,
    alpha: float = 0.05,
    correction: str = "holm",
    metrics: Sequence[str] = CORE_METRICS,
) -> Comparison:
    """Match configurations by their key and judge every metric's change."""
    if threshold_pct < 0:
        raise UsageError(f"--threshold must not be negative (got {threshold_pct})")
    names = [c["name"] for c in store.campaigns()]
    for name in (old, new):
        if name not in names:
            raise unknown_choice("campaign", name, names)
    if old == new:
        raise UsageError(
            f"OLD and NEW are both {old!r}; give two different campaigns (bench report lists them)"
        )
    before = {c.config_key: c for c in configurations(store, old)}
    after = {c.config_key: c for c in configurations(store, new)}
    paired = []
    for old_key, new_key in pair_imports(before, after):
        paired.append(
            f"{_label(before[old_key])} ({old}) with {_label(after[new_key])} ({new}): the same"
            " backend, scheme, workload and model file; an import names its device and model"
            " as its file does"
        )
        before[new_key] = before.pop(old_key)
    comparison = compare_configs(
        before,
        after,
        old=old,
        new=new,
        threshold_pct=threshold_pct,
        alpha=alpha,
        correction=correction,
        metrics=metrics,
    )
    return attrs.evolve(comparison, paired=tuple(paired))


def pair_imports(
    before: dict[str, ConfigReport], after: dict[str, ConfigReport]
) -> list[tuple[str, str]]:
    """(old key, new key) of an imported and a measured configuration that are the same one.

    Their keys differ because an import names the device and the model as the
    file does ("imported", the GGUF's name).  They pair when one side is
    imported, backend, scheme, prompt and generated tokens and threads agree,
    and the model is the same file (name or sha256), and only when exactly one
    configuration qualifies on each side: a guess is never compared.
    """

    def model_ids(c: ConfigReport) -> set[str]:
        d = c.describe
        ids = {c.model, Path(c.model).name}
        ids |= {Path(d[k]).name for k in ("model_file", "model_device_path") if d.get(k)}
        if d.get("model_sha256"):
            ids.add(d["model_sha256"])
        return {i for i in ids if i and i not in ("unknown model", "unknown")}

    def same(a: ConfigReport, b: ConfigReport) -> bool:
        wa, wb = a.workload, b.workload
        return (
            (a.imported is not None) != (b.imported is not None)
            and (a.backend, a.quant) == (b.backend, b.quant)
            and (wa.prompt_tokens, wa.gen_tokens, wa.threads)
            == (wb.prompt_tokens, wb.gen_tokens, wb.threads)
            and bool(model_ids(a) & model_ids(b))
        )

    old_free = [k for k in before if k not in after]
    new_free = [k for k in after if k not in before]
    pairs = []
    for ko in old_free:
        matches = [kn for kn in new_free if same(before[ko], after[kn])]
        if len(matches) == 1:
            back = [k for k in old_free if same(before[k], after[matches[0]])]
            if back == [ko]:
                pairs.append((ko, matches[0]))
    return pairs


def compare_configs(
    before: dict[str, ConfigReport],
    after: dict[str, ConfigReport],
    *,
    old: str,
    new: str,
    threshold_pct: float = 5.0,
    alpha: float = 0.05,
    correction: str = "holm",
    metrics: Sequence[str] = CORE_METRICS,
) -> Comparison:
    changes: list[Change] = []
    for key in (k for k in after if k in before):
        a, b = before[key], after[key]
        for metric in metrics:
            xa, xb = a.samples(metric), b.samples(metric)
            if not xa and not xb:
                continue
            changes.append(
                Change(
                    config_key=key,
                    label=_label(b),
                    metric=metric,
                    old=summarize(xa),
                    new=summarize(xb),
                    welch=welch(xb, xa),
                    ratio=ratio(xb, xa),
                )
            )
    ps = [c.welch.pvalue for c in changes]
    if correction == "none":
        adjusted, reject = ps, [not math.isnan(p) and p < alpha for p in ps]
    else:
        adjusted, reject = adjust_pvalues(ps, method=correction, alpha=alpha)
    judged = [
        attrs.evolve(c, p_adjusted=p, verdict=_verdict(c, significant, threshold_pct))
        for c, p, significant in zip(changes, adjusted, reject)
    ]
    return Comparison(
        old=old,
        new=new,
        threshold_pct=threshold_pct,
        alpha=alpha,
        correction=correction,
        changes=tuple(judged),
        only_old=tuple(_label(c) for k, c in before.items() if k not in after),
        only_new=tuple(_label(c) for k, c in after.items() if k not in before),
    )


def _verdict(change: Change, significant: bool, threshold_pct: float) -> str:
    if not change.welch.testable:
        return UNTESTABLE
    pct = change.change_pct
    if not significant or math.isnan(pct) or abs(pct) < threshold_pct:
        return UNCHANGED
    better = pct > 0 if metric_spec(change.metric).higher_is_better else pct < 0
    return IMPROVEMENT if better else REGRESSION


def _label(c: ConfigReport) -> str:
    w = c.workload
    return f"{c.backend} {c.quant} {c.model} @{c.device} (p{w.prompt_tokens}/g{w.gen_tokens}/t{w.threads})"
