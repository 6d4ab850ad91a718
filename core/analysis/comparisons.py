"""Comparisons of the findings document: tests, one correction, tables and at most three sentences.

Every pair the study compares (the frameworks' baselines; within a framework,
each scheme against its baseline and against the schemes before it) is a
Welch test and a ratio of means with Fieller's interval, per speed metric.
One multiple-comparison correction covers the whole document.  What varies
by pair is a table (one per metric: pair, ratio, adjusted p, verdict); only
the comparisons a reader decides by are also said in words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from pocketbench.core.results.findings import Column, ComparisonTable, Conclusion, Section
from pocketbench.core.results.present import pvalue
from pocketbench.core.results.report import metric_spec
from pocketbench.core.results.stats import Ratio, adjust_pvalues, ratio, welch

if TYPE_CHECKING:
    from pocketbench.core.analysis.study import Study

CORRECTION_NAMES = {
    "holm": "Holm",
    "bonferroni": "Bonferroni",
    "fdr_bh": "Benjamini-Hochberg",
    "none": "no",
}
#: The metrics compared, in the order their tables appear.
COMPARED = ("generation_tps", "prompt_tps", "total_tps")
#: At most this many comparisons are also written as sentences.
HEADLINES = 3


def compare(a: Column, b: Column) -> list[Conclusion]:
    """Test and ratio per speed metric of ``a`` against the reference ``b``.

    Two configurations measured in the same interleaved rounds are compared by
    round (:func:`~pocketbench.core.results.paired.compare_by_round`); others
    by Welch's test and Fieller's ratio.
    """
    from pocketbench.core.results.paired import compare_by_round

    out = []
    for metric in COMPARED:
        xa = a.config.samples(metric) if a.config else ()
        xb = b.config.samples(metric) if b.config else ()
        pair = compare_by_round(a.config, b.config, metric) if a.config and b.config else None
        out.append(
            Conclusion(
                metric=metric,
                a=a.label,
                b=b.label,
                welch=welch(xa, xb) if pair is None else pair.test,
                ratio=ratio(xa, xb) if pair is None else pair.ratio,
                mean_a=sum(xa) / len(xa) if xa else math.nan,
                mean_b=sum(xb) / len(xb) if xb else math.nan,
            )
        )
    return out


def correct(study: Study, sections: list[Section]) -> list[Section]:
    """One correction across every comparison in the document, then the tables and words."""
    flat = [c for s in sections for c in s.conclusions]
    ps = [c.welch.pvalue for c in flat]
    if study.correction == "none":
        adjusted, reject = ps, [not math.isnan(p) and p < study.alpha for p in ps]
    else:
        adjusted, reject = adjust_pvalues(ps, method=study.correction, alpha=study.alpha)
    worded = iter(
        _word(attrs.evolve(c, p_adjusted=p, significant=r), study)
        for c, p, r in zip(flat, adjusted, reject)
    )
    out = []
    for s in sections:
        done = tuple(next(worded) for _ in s.conclusions)
        out.append(
            attrs.evolve(
                s,
                conclusions=done,
                comparisons=tables(done, p_label(study)),
                # An imported section (no decision table) is said by its tables alone.
                headlines=headlines(done, study) if s.decision else (),
            )
        )
    return out


def p_label(study: Study) -> str:
    corr = CORRECTION_NAMES.get(study.correction, study.correction)
    return "p" if study.correction == "none" else f"{corr}-adjusted p"


def tables(conclusions: Sequence[Conclusion], p_header: str) -> tuple[ComparisonTable, ...]:
    """One table per compared metric, pairs in the order they were compared."""
    out = []
    for metric in COMPARED:
        rows = tuple(c for c in conclusions if c.metric == metric)
        if rows:
            title = metric_spec(metric).short
            out.append(
                ComparisonTable(
                    metric=metric, title=title[:1].upper() + title[1:], rows=rows, p_label=p_header
                )
            )
    return tuple(out)


def headlines(conclusions: Sequence[Conclusion], study: Study) -> tuple[str, ...]:
    """The generation comparisons a choice turns on, at most :data:`HEADLINES`, each in words.

    The first comparison of the section (the frameworks' baselines when there
    are several), the fastest configuration against its reference, and the
    fastest against the runner-up when the two were compared (is the winner
    really ahead?).  Each says something different, so each is worded for its role.
    """
    gen = [c for c in conclusions if c.metric == "generation_tps" and c.welch.testable]
    if not gen:
        return ()
    means = {c.a: c.mean_a for c in gen} | {c.b: c.mean_b for c in gen}
    ranked = sorted(means, key=lambda label: -means[label])
    fastest, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    picked: list[tuple[str, Conclusion]] = []
    for role, c in (
        ("first", gen[0]),
        ("fastest", next((c for c in gen if c.a == fastest), None)),
        ("lead", next((c for c in gen if {c.a, c.b} == {fastest, second}), None)),
    ):
        if c is not None and all(c is not other for _, other in picked):
            picked.append((role, c))
    return tuple(_headline(role, c, study) for role, c in picked[:HEADLINES])


def _evidence(c: Conclusion, study: Study) -> str:
    """ "5.64 vs 5.33 tokens/s, ratio 1.06× [1.04, 1.08], Holm-adjusted p < 0.0001" """
    adjusted = p_label(study)
    p = c.p_text
    p = f"{adjusted} {p}" if p.startswith("<") else f"{adjusted} = {p}"
    unit = metric_spec(c.metric).unit
    return f"{c.mean_a:.2f} vs {c.mean_b:.2f} {unit}, ratio {c.ratio_text}, {p}"


def _headline(role: str, c: Conclusion, study: Study) -> str:
    evidence = _evidence(c, study)
    verdict = c.verdict
    if role == "lead":
        leader, other = (c.a, c.b) if c.mean_a >= c.mean_b else (c.b, c.a)
        if verdict == "not distinguishable":
            return (
                f"The fastest, {leader}, is not distinguishable in generation from the"
                f" runner-up, {other} ({evidence}): either may be the faster."
            )
        return f"{leader} stays ahead of the runner-up, {other}, in generation ({evidence})."
    if role == "fastest":
        return (
            f"The fastest configuration in generation, {c.a}, against {c.b}: {verdict}"
            f" ({evidence})."
        )
    if verdict == "not distinguishable":
        return f"{c.a} and {c.b} are not distinguishable in generation ({evidence})."
    return f"In generation, {c.a} is {verdict} than {c.b} ({evidence})."


def _inverse(r: Ratio) -> Ratio:
    """b / a from a / b: Fieller's set for 1/rho is the inverse of the set for rho."""
    low, high = r.ci
    inv = 1 / r.estimate if r.estimate else math.inf
    if r.bounded and low > 0:
        return Ratio(estimate=inv, ci=(1 / high, 1 / low))
    return Ratio(estimate=inv, ci=(-math.inf, math.inf) if not r.bounded else (math.nan, math.nan))


def _pct(v: float) -> str:
    return f"{v:.1f}%" if math.isfinite(v) else "unbounded"


def _word(c: Conclusion, study: Study) -> Conclusion:
    """The comparison in one sentence, the faster configuration named first."""
    spec = metric_spec(c.metric)
    corr = CORRECTION_NAMES.get(study.correction, study.correction)
    if not c.welch.testable:
        text = (
            f"{c.a} vs {c.b}, {spec.short}: cannot be tested"
            " (each side needs at least 2 successful runs)."
        )
        return attrs.evolve(c, text=text)
    fast, slow, mf, ms = c.a, c.b, c.mean_a, c.mean_b
    r = c.ratio
    if ms > mf:  # the sentence reads as a speed-up of the faster one
        fast, slow, mf, ms = slow, fast, ms, mf
        r = _inverse(r)
    lo, hi = r.pct_ci
    ci = f"95% CI [{_pct(lo)}, {_pct(hi)}]" if r.bounded else "95% CI unbounded"
    means = f"{mf:.2f} vs {ms:.2f} {spec.unit}"
    times = f", {r.estimate:.2f}\u00d7" if r.estimate >= 2 else ""
    adj = (
        f"{corr}-adjusted {pvalue(c.p_adjusted)}"
        if study.correction != "none"
        else f"{pvalue(c.p_adjusted)}"
    )
    if c.significant:
        after = (
            f"significant after {corr} correction" if study.correction != "none" else "significant"
        )
        text = (
            f"{fast}'s {spec.short} is {r.pct:.1f}% faster than {slow}'s ({means}{times}),"
            f" {ci}, {after} ({adj})."
        )
    else:
        text = (
            f"{fast} and {slow} are not distinguishable in {spec.short}: {means},"
            f" difference {r.pct:.1f}%, {ci} ({adj})."
        )
    return attrs.evolve(c, text=text)
