"""The findings document of a study, written from the store.

The answer first: a summary per device (:mod:`~pocketbench.core.analysis.summary`)
and a decision table (:mod:`~pocketbench.core.analysis.decision`), then the
Galaxy A25 study's own tables (the framework comparison, one quantization
table per framework), the comparisons as tables
(:mod:`~pocketbench.core.analysis.comparisons`), the caveats
(:mod:`~pocketbench.core.analysis.caveats`) and how it was measured
(:mod:`~pocketbench.core.analysis.method`).  Everything is written from the
statistics, never by hand; this module matches the study's configurations
with what is stored and assembles the sections.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from pocketbench.core.analysis import caveats, comparisons, decision, method, order
from pocketbench.core.analysis.phone_findings import phone_breakdown
from pocketbench.core.analysis.summary import summary
from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import hash_text
from pocketbench.core.results.build import configurations
from pocketbench.core.results.findings import Column, Findings, Section, Table
from pocketbench.core.results.report import ConfigReport, Vocabulary

if TYPE_CHECKING:
    from pocketbench.core.analysis.imported_findings import ImportedPart
    from pocketbench.core.analysis.study import Study
    from pocketbench.core.analysis.study_run import StudyConfig
    from pocketbench.core.results.store import Store

#: (label, configuration, its framework's baseline) of a section's measured configurations.
Rows = list[tuple[str, ConfigReport, ConfigReport | None]]


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
    rows: list[Rows] = []
    for (model, device), members in groups.items():
        heading = "" if len(groups) == 1 else f"{model} on {device}"
        section, measured_rows = _section(
            study, heading, [(configs[i], reports[i]) for i in members]
        )
        sections.append(section)
        rows.append(measured_rows)
    from pocketbench.core.analysis import imported_findings as imp

    present = [r for r in reports.values() if r is not None]
    imported = imp.imported_campaigns(study, store)
    sections += [
        _imported_section(imp.imported_part(name, found, present)) for name, found in imported
    ]
    sections = comparisons.correct(study, sections)
    # The summary reads the verdicts, so it follows the correction.
    for i, measured in enumerate(rows):
        s = sections[i]
        if s.decision is not None:
            sections[i] = attrs.evolve(s, summary=summary(measured, s.conclusions, s.decision))
    labelled = [(_label(sc, study), reports[i]) for i, sc in enumerate(configs)]
    tools, tool_table = method.tools(study, configs, reports, lambda sc: _label(sc, study))
    design = order.stored_design(store, campaign)
    drifts = order.drifts(store, campaign, present)
    return Findings(
        title=study.display_title,
        description=study.description,
        campaign=campaign,
        devices=method.devices(present),
        method=method.method(study, configs, present) + (order.design_text(design),),
        statistics=method.statistics(
            study,
            plusminus,
            sum(len(s.conclusions) for s in sections),
            method.metric_notes(vocabulary, present),
        )
        + tuple(order.drift_text(device, d) for device, d in drifts),
        tools=tools,
        tool_table=tool_table,
        sections=tuple(sections),
        caveats=caveats.caveats(study, labelled)
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
    conclusions = []
    for new, old in part.pairs:
        compared = comparisons.compare(
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
        sources=part.sources,
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
) -> tuple[Section, Rows]:
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
    conclusions = []
    # Frameworks against the first one, then within each framework: every scheme against its
    # baseline first, then each scheme against the schemes before it.
    for i, a in enumerate(baselines):
        for b in baselines[i + 1 :]:
            conclusions += comparisons.compare(b, a)
    rows: Rows = []
    for fw in study.framework:
        mine = [(sc, r) for sc, r in members if sc.framework is fw]
        cols = tuple(Column(label=sc.quant_label, config=r) for sc, r in mine)
        if len(cols) > 1:
            quant_tables.append(
                Table(title=f"{fw.name} Quantization Results{suffix}", columns=cols)
            )
        named = [Column(label=_label(sc, study), config=r) for sc, r in mine]
        base = next((i for i, (sc, _) in enumerate(mine) if sc.is_baseline), 0)
        order = [base] + [i for i in range(len(named)) if i != base]
        for x, i in enumerate(order):
            for j in order[x + 1 :]:
                conclusions += comparisons.compare(named[j], named[i])
        base_report = mine[base][1] if mine else None
        rows += [(col.label, r, base_report) for col, (_, r) in zip(named, mine) if r is not None]
    labelled = [(_label(sc, study), r) for sc, r in members]
    present = [r for _, r in labelled if r is not None]
    return (
        Section(
            heading=heading,
            framework_table=framework_table,
            quant_tables=tuple(quant_tables),
            conclusions=tuple(conclusions),
            decision=decision.decision_table(labelled, decision.table_notes(present)),
        ),
        rows,
    )


def _version() -> str:
    from pocketbench.core.results.build import _version as v

    return v()


__all__ = ["build_findings"]
