"""How the study was measured, for the findings document: devices, method, statistics, tools.

Everything here is the same whatever was found: the workload, the number of
runs, how intervals and tests are computed, the tool versions and build
commits.  The document prints it after the answer and its caveats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from statistics import fmean
from typing import TYPE_CHECKING

from pocketbench.core.analysis.comparisons import CORRECTION_NAMES
from pocketbench.core.api.bandwidth import DeviceBandwidth, threads_text
from pocketbench.core.results import bandwidth
from pocketbench.core.results.findings import TextTable
from pocketbench.core.results.report import TOTAL_DEFINITION, ConfigReport, Vocabulary, facts_lines

if TYPE_CHECKING:
    from pocketbench.core.analysis.study import Study
    from pocketbench.core.analysis.study_run import StudyConfig


#: What of a backend's ``describe`` the preface lists (the rest is in ``bench report``).
_TOOL_KEYS = re.compile(
    r"version|commit|^tool$|tool_source|built_with|runner$|quant_type|"
    r"file_type|dtype|^scheme$|quantized_with|model_source|^source$|model_sha256|"
    r"^toolchain$|^target_(abi|triple|march)$"
)
_MAX_VALUE = 160


def tools(
    study: Study,
    configs: Sequence[StudyConfig],
    reports: dict[int, ConfigReport | None],
    label: Callable[[StudyConfig], str],
) -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], TextTable | None]:
    """Tool versions and build commits: a line per framework, a table of what differs per scheme.

    The line holds what every scheme of a framework shares (everything, for a
    framework of one scheme); what differs by scheme (quantization, model
    hash) is a row per configuration, never a line per configuration.
    """

    def keep(items: dict[str, str]) -> tuple[tuple[str, str], ...]:
        out = []
        for k, v in sorted(items.items()):
            if _TOOL_KEYS.search(k):
                v = " ".join(str(v).split())
                out.append((k, v if len(v) <= _MAX_VALUE else v[: _MAX_VALUE - 1] + "\u2026"))
        return tuple(out)

    lines: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    rows: list[tuple[str, dict[str, str]]] = []
    for fw in study.framework:
        mine = [(sc, r) for i, sc in enumerate(configs) if sc.framework is fw and (r := reports[i])]
        if not mine:
            continue
        first = mine[0][1].describe
        common = {k: v for k, v in first.items() if all(r.describe.get(k) == v for _, r in mine)}
        if len(mine) == 1:
            if keep(common):
                lines.append((label(mine[0][0]), keep(common)))
            continue
        if keep(common):
            lines.append((f"{fw.name}, every scheme", keep(common)))
        for sc, r in mine:
            own = dict(keep({k: v for k, v in r.describe.items() if k not in common}))
            if own:
                rows.append((label(sc), own))
    keys = sorted({k for _, own in rows for k in own})
    table = (
        TextTable(
            header=("Configuration", *keys),
            rows=tuple((name, *(own.get(k, "n/a") for k in keys)) for name, own in rows),
        )
        if rows
        else None
    )
    return tuple(lines), table


def devices(present: list[ConfigReport]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    seen: dict[str, tuple[tuple[str, str], ...]] = {}
    for r in present:
        if r.device not in seen:
            seen[r.device] = tuple(facts_lines(r))
    return tuple(seen.items())


def method(
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
    return tuple(lines) + _quality_method(present) + mbu + _probes(present)


def _probes(present: list[ConfigReport]) -> tuple[str, ...]:
    """Every bandwidth probe once per device and placement (the study's start, re-probes, its
    end), all in one line: what varies by device is a list, not a sentence each."""
    seen: dict[tuple[str, str], str] = {}
    for r in present:
        b = r.bandwidth
        if b is None or b.probe is None or not b.probes:
            continue
        where = f"{threads_text(b.probe.threads)}, {b.probe.where}"
        seen.setdefault((r.device, where), ", ".join(_probe(p) for p in b.probes))
    if not seen:
        return ()
    return (
        "Bandwidth probes, oldest first (the device figure is the best of a placement's: a"
        " busier minute only ever reads less): "
        + "; ".join(f"{device} ({where}): {probes}" for (device, where), probes in seen.items())
        + ".",
    )


def _probe(p: DeviceBandwidth) -> str:
    import time

    values = p.figure_samples
    figure = f"{fmean(values):.1f} GB/s" if values else "no figure"
    facts = [time.strftime("%H:%M UTC", time.gmtime(p.measured_at))]
    if p.load_avg is not None:
        facts.append(f"load {p.load_avg:.1f}")
    if p.reason:
        facts.append(p.reason)
    if p.busy:
        facts.append("busy")
    return f"{figure} ({', '.join(facts)})"


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


def metric_notes(vocabulary: Vocabulary | None, reports: Sequence[ConfigReport]) -> list[str]:
    """Notes of the backends' own figures that these configurations measured."""
    infos = vocabulary.metrics if vocabulary is not None else {}
    return [i.note for m, i in infos.items() if i.note and any(m in r.summaries for r in reports)]


def statistics(study: Study, plusminus: str, family: int, notes: Sequence[str]) -> tuple[str, ...]:
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
        f" {study.alpha:g}; intervals are not adjusted for multiplicity. A ratio is the first"
        " configuration's mean over the second's; the verdict is the test's: faster, slower, or"
        " not distinguishable.",
        "Outliers are flagged with Tukey's fences (1.5 interquartile ranges) and kept. A device's"
        " drift is estimated across all its configurations' runs (least squares of log speed on"
        " each run's place in time, one level per configuration); a fall with p < 0.01 and at"
        " least 2% over the study is reported as drift, and called thermal throttling only when"
        " the cores' clocks, Android's thermal status or the device's temperatures show it.",
    )
