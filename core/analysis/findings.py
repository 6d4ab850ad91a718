"""The findings document of a study, written from the store.

The Galaxy A25 study's structure: a preface (devices, method, tool versions), the
framework comparison (each framework's baseline), one quantization table per
framework, conclusions and caveats.  Conclusions are written from the
statistics, never by hand: every difference named is a Welch test corrected
for multiple comparisons across the whole document, with the speed-up's
confidence interval; "not distinguishable" where the test says so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from pocketbench.core.analysis import order
from pocketbench.core.analysis.phone_findings import phone_breakdown
from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import hash_text
from pocketbench.core.api.presets import PRESETS
from pocketbench.core.results import bandwidth
from pocketbench.core.results.build import configurations
from pocketbench.core.results.findings import Column, Conclusion, Findings, Section, Table
from pocketbench.core.results.present import busy_host_text, pvalue
from pocketbench.core.results.report import (
    CORE_METRICS,
    TOTAL_DEFINITION,
    ConfigReport,
    Vocabulary,
    facts_lines,
    metric_spec,
)
from pocketbench.core.results.stats import adjust_pvalues, ratio, welch

if TYPE_CHECKING:
    from pocketbench.core.analysis.imported_findings import ImportedPart
    from pocketbench.core.analysis.study import Study, StudyConfig
    from pocketbench.core.results.store import Store

CORRECTION_NAMES = {
    "holm": "Holm",
    "bonferroni": "Bonferroni",
    "fdr_bh": "Benjamini-Hochberg",
    "none": "no",
}


def build_findings(
    study: Study,
    configs: Sequence[StudyConfig],
    store: Store,
    campaign: str,
    *,
    plusminus: str = "sd",
    vocabulary: Vocabulary | None = None,
) -> Findings:
    """The findings document's content from what ``campaign`` holds.

    ``vocabulary`` (from the plugin registry) says what backends' own
    figures mean; their notes join the statistics section.
    """
    known = {c["name"] for c in store.campaigns()}
    if campaign not in known:
        raise UsageError(
            f"nothing is stored for study {study.name!r} (campaign {campaign!r});"
            " run it first: bench study FILE"
        )
    stored = configurations(store, campaign)
    reports: dict[int, ConfigReport | None] = {}
    for i, sc in enumerate(configs):
        match = _find(sc, stored, study)
        reports[i] = None if match is None else attrs.evolve(match, label=_label(sc, study))

    groups: dict[tuple[str, str], list[int]] = {}
    for i, sc in enumerate(configs):
        groups.setdefault((sc.job.model, sc.job.device), []).append(i)

    sections = []
    for (model, device), members in groups.items():
        heading = "" if len(groups) == 1 else f"{model} on {device}"
        sections.append(_section(study, heading, [(configs[i], reports[i]) for i in members]))
    from pocketbench.core.analysis import imported_findings as imp

    measured = [r for r in reports.values() if r is not None]
    imported = imp.imported_campaigns(study, store)
    sections += [
        _imported_section(imp.imported_part(name, found, measured)) for name, found in imported
    ]
    sections = _correct(study, sections)

    present = [r for r in reports.values() if r is not None]
    design = order.stored_design(store, campaign)
    drifts = order.drifts(store, campaign, present)
    return Findings(
        title=study.display_title,
        description=study.description,
        campaign=campaign,
        devices=_devices(present),
        method=_method(study, configs, present) + (order.design_text(design),),
        statistics=_statistics(
            study,
            plusminus,
            sum(len(s.conclusions) for s in sections),
            _metric_notes(vocabulary, present),
        )
        + tuple(order.drift_text(device, d) for device, d in drifts),
        tools=_tools(study, configs, reports),
        sections=tuple(sections),
        caveats=_caveats(study, configs, reports)
        + tuple(order.drift_caveat(device, d, design) for device, d in drifts if d.slowing)
        + imp.import_caveats(imported),
        plusminus=plusminus,
        generated_at=time.time(),
        version=_version(),
        phones=phone_breakdown(
            store, campaign, {sc.job.config_key(): _label(sc, study) for sc in configs}
        ),
    )


def _imported_section(part: ImportedPart) -> Section:
    conclusions: list[Conclusion] = []
    for new, old in part.pairs:
        compared = _compare(
            Column(label=new.label, config=new), Column(label=old.label, config=old)
        )
        # A figure the file does not hold (llama-bench -pg gives only the total) is not a finding.
        conclusions += [c for c in compared if not math.isnan(new.summary(c.metric).mean)]
    table = Table(
        title=part.title, columns=tuple(Column(label=c.label, config=c) for c in part.configs)
    )
    return Section(
        heading=part.heading,
        framework_table=table,
        quant_tables=(),
        conclusions=tuple(conclusions),
        headlines=part.lines,
    )


def _label(sc: StudyConfig, study: Study) -> str:
    label = f"{sc.framework.name} {sc.quant_label}"
    if len(study.models) > 1 or len(study.devices) > 1:
        label += f" ({sc.job.model} on {sc.job.device})"
    if len(study.cores) > 1:  # placements compared like any other factor
        label += f", cores {sc.job.workload.placement}"
    if len(study.workload.depths) > 1:
        label += f", prompt {sc.job.workload.prompt_tokens}"
    return label


#: What of a backend's ``describe`` the preface lists (the rest is in ``bench report``).
_TOOL_KEYS = re.compile(
    r"version|commit|^tool$|tool_source|built_with|runner$|quant_type|"
    r"file_type|dtype|^scheme$|quantized_with|model_source|^source$|model_sha256|"
    r"^toolchain$|^target_(abi|triple|march)$"
)
_MAX_VALUE = 160


def _tools(
    study: Study, configs: Sequence[StudyConfig], reports: dict[int, ConfigReport | None]
) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Tool versions and build commits: once per framework, then what differs per scheme."""

    def keep(items: dict[str, str]) -> tuple[tuple[str, str], ...]:
        out = []
        for k, v in sorted(items.items()):
            if _TOOL_KEYS.search(k):
                v = " ".join(str(v).split())
                out.append((k, v if len(v) <= _MAX_VALUE else v[: _MAX_VALUE - 1] + "\u2026"))
        return tuple(out)

    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for fw in study.framework:
        mine = [(sc, r) for i, sc in enumerate(configs) if sc.framework is fw and (r := reports[i])]
        if not mine:
            continue
        first = mine[0][1].describe
        common = {k: v for k, v in first.items() if all(r.describe.get(k) == v for _, r in mine)}
        if len(mine) > 1 and keep(common):
            out.append((f"{fw.name}, every scheme", keep(common)))
        for sc, r in mine:
            own = {k: v for k, v in r.describe.items() if k not in common or len(mine) == 1}
            if keep(own):
                out.append((_label(sc, study), keep(own)))
    return tuple(out)


def _find(sc: StudyConfig, stored: Sequence[ConfigReport], study: Study) -> ConfigReport | None:
    """The stored configuration of ``sc``: by key, else by what the study fixes.

    Without a device at hand (rewriting the findings later), the thread count
    and an adb serial are not known; match what the study itself says.
    """
    key = sc.job.config_key()
    for c in stored:
        if c.config_key == key:
            return c
    w = sc.job.workload
    spec = sc.job.device
    candidates = [
        c
        for c in stored
        if c.backend == sc.job.backend
        and c.quant == sc.job.quant
        and c.model == sc.job.model
        and c.workload.prompt_tokens == w.prompt_tokens
        and c.workload.gen_tokens == w.gen_tokens
        and (study.workload.threads is None or c.workload.threads == w.threads)
        and (c.workload.prompt is None) == (w.prompt is None)
        and (w.prompt is None or hash_text(c.workload.prompt or "") == hash_text(w.prompt))
        and (c.device == spec or (spec == "adb" and c.device.startswith("adb")))
        and c.workload.placement == w.placement
    ]
    return candidates[-1] if candidates else None


def _section(
    study: Study, heading: str, members: list[tuple[StudyConfig, ConfigReport | None]]
) -> Section:
    baselines = [
        Column(
            label=fw.name,
            config=next((r for sc, r in members if sc.framework is fw and sc.is_baseline), None),
        )
        for fw in study.framework
    ]
    suffix = f" ({heading})" if heading else ""
    framework_table = Table(title=f"Framework Comparison Results{suffix}", columns=tuple(baselines))
    quant_tables = []
    conclusions: list[Conclusion] = []
    for i, a in enumerate(baselines):
        for b in baselines[i + 1 :]:
            conclusions += _compare(a, b)
    for fw in study.framework:
        mine = [(sc, r) for sc, r in members if sc.framework is fw]
        cols = tuple(Column(label=sc.quant_label, config=r) for sc, r in mine)
        if len(cols) > 1:
            quant_tables.append(
                Table(title=f"{fw.name} Quantization Results{suffix}", columns=cols)
            )
        # Every pair within a framework: against the baseline first, then between schemes.
        named = [Column(label=f"{fw.name} {sc.quant_label}", config=r) for sc, r in mine]
        base = next((i for i, (sc, _) in enumerate(mine) if sc.is_baseline), 0)
        order = [base] + [i for i in range(len(named)) if i != base]
        for x, i in enumerate(order):
            for j in order[x + 1 :]:
                conclusions += _compare(named[j], named[i])
    return Section(
        heading=heading,
        framework_table=framework_table,
        quant_tables=tuple(quant_tables),
        conclusions=tuple(conclusions),
        headlines=_headlines(members),
        quality=_quality(study, members),
    )


def _quality(
    study: Study, members: list[tuple[StudyConfig, ConfigReport | None]]
) -> tuple[str, ...]:
    from pocketbench.core.analysis.tradeoff import quality_lines

    triples = []
    for fw in study.framework:
        mine = [(sc, r) for sc, r in members if sc.framework is fw and r is not None]
        base = next((r for sc, r in mine if sc.is_baseline), None)
        triples += [(f"{fw.name} {sc.quant_label}", r, base) for sc, r in mine]
    return quality_lines(triples)


def _compare(a: Column, b: Column) -> list[Conclusion]:
    """Test and speed-up per speed metric; ``a`` of a conclusion is the faster one.

    Two configurations measured in the same interleaved rounds are compared by
    round (:func:`~pocketbench.core.results.paired.compare_by_round`); others
    by Welch's test and Fieller's ratio.
    """
    from pocketbench.core.results.paired import compare_by_round

    out = []
    for metric in ("generation_tps", "prompt_tps", "total_tps"):
        xa = a.config.samples(metric) if a.config else ()
        xb = b.config.samples(metric) if b.config else ()
        ma = sum(xa) / len(xa) if xa else math.nan
        mb = sum(xb) / len(xb) if xb else math.nan
        first, second = (a, b)
        if mb > ma:
            first, second, xa, xb, ma, mb = b, a, xb, xa, mb, ma
        pair = (
            compare_by_round(first.config, second.config, metric)
            if first.config and second.config
            else None
        )
        out.append(
            Conclusion(
                metric=metric,
                a=first.label,
                b=second.label,
                welch=welch(xa, xb) if pair is None else pair.test,
                ratio=ratio(xa, xb) if pair is None else pair.ratio,
                mean_a=ma,
                mean_b=mb,
            )
        )
    return out


def _correct(study: Study, sections: list[Section]) -> list[Section]:
    """One correction across every comparison in the document, then the wording."""
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
    return [
        attrs.evolve(s, conclusions=tuple(next(worded) for _ in s.conclusions)) for s in sections
    ]


def _pct(v: float) -> str:
    return f"{v:.1f}%" if math.isfinite(v) else "unbounded"


def _word(c: Conclusion, study: Study) -> Conclusion:
    spec = metric_spec(c.metric)
    unit = spec.unit
    corr = CORRECTION_NAMES.get(study.correction, study.correction)
    if not c.welch.testable:
        text = (
            f"{c.a} vs {c.b}, {spec.short}: cannot be tested"
            " (each side needs at least 2 successful runs)."
        )
        return attrs.evolve(c, text=text)
    fast, slow, mf, ms, r = c.a, c.b, c.mean_a, c.mean_b, c.ratio
    lo, hi = r.pct_ci
    ci = f"95% CI [{_pct(lo)}, {_pct(hi)}]" if r.bounded else "95% CI unbounded"
    means = f"{mf:.2f} vs {ms:.2f} {unit}"
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
            f"{c.a} and {c.b} are not distinguishable in {spec.short}: {means},"
            f" difference {r.pct:.1f}%, {ci} ({adj})."
        )
    return attrs.evolve(c, text=text)


def _headlines(members: list[tuple[StudyConfig, ConfigReport | None]]) -> tuple[str, ...]:
    out = []
    present = [r for _, r in members if r is not None]
    for metric in ("generation_tps", "prompt_tps", "total_tps"):
        ranked = [(r.summary(metric).mean, r.label) for r in present if r.summary(metric).n]
        if ranked:
            best = max(ranked)
            out.append(f"Fastest {metric_spec(metric).short}: {best[1]} ({best[0]:.2f} tokens/s).")
    for r in present:
        kind = r.facts.kind if r.facts is not None else ""
        line = bandwidth.sentence(r.label, r.bandwidth, kind)
        if line:
            out.append(line)
    from pocketbench.core.results import energy

    return tuple(out) + energy.findings_lines(present)


def _devices(present: list[ConfigReport]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    seen: dict[str, tuple[tuple[str, str], ...]] = {}
    for r in present:
        if r.device not in seen:
            seen[r.device] = tuple(facts_lines(r))
    return tuple(seen.items())


def _method(
    study: Study, configs: Sequence[StudyConfig], present: list[ConfigReport]
) -> tuple[str, ...]:
    w = study.workload
    threads = sorted({r.workload.threads for r in present}) or ([w.threads] if w.threads else [])
    thread_text = ", ".join(str(t) for t in threads) if threads else "the device's cores, at most 4"
    lines = [
        f"Every configuration ran {study.warmup} warm-up run{'s' if study.warmup != 1 else ''}"
        f" (stored, not counted) before its first measured run, and {study.runs} measured runs"
        " on the same device.",
        f"Workload, the same for every framework: a prompt of {', '.join(map(str, w.depths))}"
        " tokens, then exactly"
        f" {w.gen_tokens} generated tokens (end of sequence ignored), with {thread_text}"
        f" thread{'s' if threads != [1] else ''}; a run may take at most {w.timeout_s:g} s.",
    ]
    if w.prompt is not None:
        lines.append(
            f"Prompt text (made exactly {', '.join(map(str, w.depths))} tokens long):"
            f" \u201c{w.prompt}\u201d."
        )
    models = ", ".join(study.models)
    labels = {(id(sc.framework), sc.quant): sc.quant_label for sc in configs}
    lines.append(
        f"Model{'s' if len(study.models) > 1 else ''}: {models}. Frameworks and schemes: "
        + "; ".join(
            f"{fw.name} ({', '.join(labels[(id(fw), q)] for q in fw.quants)};"
            f" baseline {labels[(id(fw), fw.baseline_quant)]})"
            for fw in study.framework
        )
        + "."
    )
    mbu = (bandwidth.TABLE_NOTE,) if any(r.bandwidth is not None for r in present) else ()
    return tuple(lines) + _quality_method(present) + mbu


def _quality_method(present: list[ConfigReport]) -> tuple[str, ...]:
    """How quality was measured, and where a real preset's weights come from."""
    from pocketbench.core.kit.realmodels import REAL_MODELS
    from pocketbench.core.results.quality import QUALITY_NOTE

    lines = []
    q = next((r.quality for r in present if r.quality is not None), None)
    if q is not None:
        lines.append(
            f"{QUALITY_NOTE} Evaluation text: {q.text_name}, {q.eval_tokens} tokens "
            f"(sha256 {q.text_sha256[:12]}), {q.scored} scored positions (protocol {q.protocol}). "
            "Quality figures are value [95% CI]; the reference of each framework is its baseline "
            "unless the table says otherwise."
        )
    for model in dict.fromkeys(r.model for r in present):
        if model in REAL_MODELS:
            lines.append(REAL_MODELS[model].provenance)
    return tuple(lines)


def _metric_notes(vocabulary: Vocabulary | None, reports: Sequence[ConfigReport]) -> list[str]:
    """Notes of the backends' own figures that these configurations measured."""
    infos = vocabulary.metrics if vocabulary is not None else {}
    return [i.note for m, i in infos.items() if i.note and any(m in r.summaries for r in reports)]


def _statistics(study: Study, plusminus: str, family: int, notes: Sequence[str]) -> tuple[str, ...]:
    from pocketbench.core.results.report import PLUSMINUS_TEXT

    corr = CORRECTION_NAMES.get(study.correction, study.correction)
    correction = (
        f"corrected for multiple comparisons with {corr}'s method across all {family}"
        f" comparisons in this document"
        if study.correction != "none"
        else "not corrected for multiple comparisons"
    )
    return (
        f"Tables show the {PLUSMINUS_TEXT[plusminus]}.",
        TOTAL_DEFINITION,
        *notes,
        "Two configurations measured in the same interleaved rounds are compared by round (paired"
        " t-test of the per-round log ratios, the ratio's 95% interval from Student's t on the log"
        f" scale); others with Welch's t-test (unequal variances) and Fieller's 95% confidence"
        f" interval for a ratio of means. Tests are {correction}, at a significance level of"
        f" {study.alpha:g}; intervals are not adjusted for multiplicity.",
        "Outliers are flagged with Tukey's fences (1.5 interquartile ranges) and kept. A device's"
        " drift is estimated across all its configurations' runs (least squares of log speed on"
        " each run's place in time, one level per configuration); a fall with p < 0.01 and at"
        " least 2% over the study is flagged as likely thermal throttling.",
    )


def _accuracy_caveat(
    study: Study, configs: Sequence[StudyConfig], reports: dict[int, ConfigReport | None]
) -> str:
    """What the document says about output quality: not measured, or what its figures are not."""
    without = [
        _label(sc, study)
        for i, sc in enumerate(configs)
        if reports[i] is not None and reports[i].quality is None  # type: ignore[union-attr]
    ]
    if len(without) == sum(r is not None for r in reports.values()):
        return (
            "Only speed was measured. Quantization changes a model's outputs; choosing a scheme"
            " also needs an accuracy evaluation (perplexity or a task benchmark), which this"
            " study did not run."
        )
    text = (
        "Quality here is closeness to a reference's next-token distributions over one"
        " evaluation text, not a task benchmark: a scheme close on this text can still fail a"
        " task."
    )
    return text + (f" No quality was measured for {', '.join(without)}." if without else "")


def _caveats(
    study: Study, configs: Sequence[StudyConfig], reports: dict[int, ConfigReport | None]
) -> tuple[str, ...]:
    out: list[str] = []
    for i, sc in enumerate(configs):
        r = reports[i]
        label = _label(sc, study)
        if r is None or r.n_ok == 0:
            out.append(f"{label}: no successful runs are stored; its cells read n/a.")
            continue
        for text in (busy_host_text(r),):
            if text:
                out.append(f"{label}: {text}.")
        drop = r.freq_drop
        if drop is not None and drop.throttling:
            out.append(
                f"{label}: likely throttling: the cores' frequency went from {drop.first_mhz:.0f}"
                f" to {drop.last_mhz:.0f} MHz ({drop.change_pct:+.1f}%) over the runs"
                + (
                    f", Android thermal status up to {drop.thermal_status}"
                    if drop.thermal_status
                    else ""
                )
                + "."
            )
        from pocketbench.core.results import energy

        out += [f"{label}: {note}" for note in energy.notes(r) if "not counted" in note]
        if r.n_failed:
            out.append(
                f"{label}: {r.n_failed} of {len(r.runs)} measured runs failed; their raw output"
                " is stored (bench report shows the errors)."
            )
        flagged = sorted({i for m in CORE_METRICS for i in r.summary(m).outliers})
        if flagged:
            what = (
                "1 run flagged as an outlier"
                if len(flagged) == 1
                else f"{len(flagged)} runs flagged as outliers"
            )
            out.append(f"{label}: {what} by Tukey's fences, kept in the statistics.")
        if 0 < r.n_ok < 5:
            out.append(
                f"{label}: only {r.n_ok} successful runs; its interval is wide and tests have little power."
            )
    out.append(_accuracy_caveat(study, configs, reports))
    synthetic = [m for m in study.models if m in PRESETS]
    if synthetic:
        shapes = "; ".join(f"{m}: {PRESETS[m].description}" for m in synthetic)
        out.append(
            "Synthetic models: random weights with a published model's exact shapes"
            f" ({shapes}). Speed depends on shapes, not on weight values; the generated text is meaningless."
        )
    if len(study.framework) > 1:
        out.append(
            "Each framework's baseline is its own unquantized default format; the baselines need"
            " not use the same number format (see the tool versions)."
        )
    present = [r for r in reports.values() if r is not None]
    if present and not any(r.temperatures for r in present):
        out.append(
            "No device temperatures were recorded, so throttling is judged only from the trend of speed across runs."
        )
    elif present:
        temps = [t for r in present for t in r.temperatures]
        out.append(
            f"Device temperatures after runs ranged from {min(temps):.1f} to {max(temps):.1f} °C."
        )
    if any(r.facts is not None and r.facts.kind == "local" for r in present):
        out.append(
            "Some configurations ran on the local host, not on a phone: absolute speeds differ"
            " from a phone's; comparisons between configurations on the same host hold."
        )
    return tuple(out)


def _version() -> str:
    from pocketbench.core.results.build import _version as v

    return v()


__all__ = ["Column", "Conclusion", "Findings", "Section", "Table", "build_findings"]
