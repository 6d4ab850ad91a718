"""Energy per token as report metrics (``--energy``).

A run's energy is what the device's gauge (battery, or RAPL on a host)
recorded over the whole run: model loading, prompt evaluation and
generation.  The figures divide it by the generated tokens, so they are the
energy an app pays per generated token of a request of this shape.

The prompt/generation split integrates the same power samples over the
run's own phases: the runtime's wall-clock phase timestamps (ExecuTorch's
PyTorchObserver line) placed on the sample clock by the offset measured in
the shell that ran the runtime (:func:`pocketbench.core.devices.androidpower.clock_offset`).
Prompt energy is divided by the prompt tokens, generation energy by the
decode steps (G - 1, the steps ``generation_tps`` counts).  Where the
runtime prints durations only (llama.cpp) or the clocks could not be
related, the split is "not available"; it is never estimated.

Runs whose energy is not trustworthy (charging, samples stopped) have no
energy figure; their speed still counts.  Per-rail energy (the phone's
on-device power monitors) is shown per run as the rails' counters gave it.
"""

from __future__ import annotations

from typing import Any, Protocol

from pocketbench.core.api.model import RunRecord
from pocketbench.core.api.power import window_joules
from pocketbench.core.results.stats import Summary


class Measured(Protocol):
    """What the energy figures read of a configuration.

    A :class:`~pocketbench.core.results.report.ConfigReport` is one; named by
    its shape because the report model reads this module's metric names.
    """

    @property
    def label(self) -> str: ...

    @property
    def records(self) -> tuple[RunRecord, ...]: ...

    @property
    def summaries(self) -> dict[str, Summary]: ...


MJ_PER_TOKEN = "mj_per_token"
TOKENS_PER_JOULE = "tokens_per_joule"
PROMPT_MJ_PER_TOKEN = "prompt_mj_per_token"
GENERATION_MJ_PER_TOKEN = "generation_mj_per_token"
ENERGY_METRICS = (MJ_PER_TOKEN, TOKENS_PER_JOULE, PROMPT_MJ_PER_TOKEN, GENERATION_MJ_PER_TOKEN)
#: Said under every table that shows the prompt/generation split.
SPLIT_NOTE = (
    "Prompt and generation energy = the same samples integrated over the run's own phases (the"
    " runtime's wall-clock timestamps placed on the sample clock by an offset measured in the"
    " device shell that ran it), divided by the prompt tokens and by the decode steps."
)
#: Said under every table that shows energy rows.
ENERGY_NOTE = (
    "Energy = the whole run's energy as the device's gauge measured it (battery current x voltage"
    " sampled on the phone, trapezoid rule; RAPL on a host), divided by the generated tokens;"
    " it includes loading and prompt evaluation and everything else the device drew."
)


#: How reports name the energy figures (fields of :class:`~pocketbench.core.results.report.MetricSpec`).
SPECS: tuple[dict[str, Any], ...] = (
    {
        "name": MJ_PER_TOKEN,
        "label": "Energy per Token (mJ)",
        "short": "energy per token",
        "unit": "mJ/token",
        "higher_is_better": False,
        "decimals": 1,
    },
    {
        "name": TOKENS_PER_JOULE,
        "label": "Tokens per Joule",
        "short": "tokens per joule",
        "unit": "tokens/J",
        "decimals": 2,
    },
    {
        "name": PROMPT_MJ_PER_TOKEN,
        "label": "Prompt Energy per Prompt Token (mJ)",
        "short": "prompt energy per prompt token",
        "unit": "mJ/token",
        "higher_is_better": False,
        "decimals": 2,
    },
    {
        "name": GENERATION_MJ_PER_TOKEN,
        "label": "Generation Energy per Generated Token (mJ)",
        "short": "generation energy per generated token",
        "unit": "mJ/token",
        "higher_is_better": False,
        "decimals": 1,
    },
)


def energy_values(record: RunRecord) -> dict[str, float]:
    """mJ per generated token and generated tokens per joule of one run (empty: no energy)."""
    trace = record.trace
    energy = trace.energy if trace is not None else None
    m = record.metrics
    if energy is None or not energy.ok or m is None or not m.gen_tokens:
        return {}
    joules = energy.joules or 0.0
    if joules <= 0:
        return {}
    out = {MJ_PER_TOKEN: joules * 1000 / m.gen_tokens, TOKENS_PER_JOULE: m.gen_tokens / joules}
    split = phase_joules(record)
    if not isinstance(split, str):
        prompt_j, gen_j = split
        out[PROMPT_MJ_PER_TOKEN] = prompt_j * 1000 / m.prompt_tokens
        if m.gen_tokens > 1:
            out[GENERATION_MJ_PER_TOKEN] = gen_j * 1000 / (m.gen_tokens - 1)
    return out


def phase_joules(record: RunRecord) -> tuple[float, float] | str:
    """(prompt joules, generation joules) of one run, or why the split is not available."""
    trace = record.trace
    energy = trace.energy if trace is not None else None
    m = record.metrics
    if energy is None or not energy.ok or m is None:
        return "no energy figure for the run"
    if m.phases_epoch_ms is None:
        return "the runtime prints phase durations, not timestamps"
    if energy.source != "battery":
        return f"{energy.source} counters are read only at the ends of a run"
    if energy.clock_offset_s is None:
        return energy.clock_problem or "the device's clocks were not related for this run"
    start, p_end, end = (ms / 1000 - energy.clock_offset_s for ms in m.phases_epoch_ms)
    prompt = window_joules(energy, start, p_end)
    gen = window_joules(energy, p_end, end)
    if prompt is None or gen is None:
        return "the runtime's phases fall outside the sampled span"
    return prompt, gen


def _stat(s: Summary) -> dict[str, Any]:
    return {"mean": s.mean, "stdev": s.stdev, "ci95": list(s.ci95), "n": s.n}


def energy_json(config: Measured) -> dict[str, Any] | None:
    """``{mj_per_token: {mean, stdev, ci95, n}, tokens_per_joule: {...}, ...}`` or None.

    ``prompt_mj_per_token`` / ``generation_mj_per_token`` are null where the
    split is not available (``split_unavailable`` says why); ``rails_j`` holds
    each power rail's joules per run, ``{}`` where the phone has none.
    """
    if MJ_PER_TOKEN not in config.summaries:
        return None
    out: dict[str, Any] = {
        name: _stat(config.summaries[name]) if name in config.summaries else None
        for name in ENERGY_METRICS
    }
    why = split_unavailable(config)
    out["split_unavailable"] = why
    out["rails_j"] = {name: _stat(s) for name, s in rail_summaries(config).items()}
    return out


def split_unavailable(config: Measured) -> str | None:
    """Why no measured run of ``config`` has a prompt/generation split (None: some have)."""
    reasons = []
    for r in config.records:
        if r.warmup or not r.ok or r.trace is None or r.trace.energy is None:
            continue
        split = phase_joules(r)
        if not isinstance(split, str):
            return None
        reasons.append(split)
    return max(set(reasons), key=reasons.count) if reasons else None


def rail_summaries(config: Measured) -> dict[str, Summary]:
    """Joules per run of each power rail, over the measured runs that have them."""
    from pocketbench.core.results.stats import summarize

    per: dict[str, list[float]] = {}
    for r in config.records:
        if r.warmup or not r.ok or r.trace is None or r.trace.energy is None:
            continue
        for name, joules in r.trace.energy.rails.items():
            per.setdefault(name, []).append(joules)
    return {name: summarize(values) for name, values in sorted(per.items())}


def energy_traces(config: Measured) -> list[Any]:
    return [r.trace.energy for r in config.records if r.trace is not None and r.trace.energy]


def notes(config: Measured) -> list[str]:
    """What a reader must know about this configuration's energy figures."""
    traces = energy_traces(config)
    if not traces:
        return []
    out = []
    ok = [t for t in traces if t.ok]
    problems = sorted({t.problem for t in traces if t.problem})
    if ok:
        first = ok[0]
        rates = [t.rate_hz for t in ok if t.rate_hz]
        how = f"{first.source}"
        if first.source == "battery":
            sign = {1: "positive", -1: "negative"}.get(first.discharge_sign, "unknown")
            how += f", current in {first.current_unit}, {sign} while discharging"
        if rates:
            how += f", {min(rates):.1f}-{max(rates):.1f} samples/s"
        out.append(f"Energy measured in {len(ok)} of {len(traces)} runs ({how}).")
    for problem in problems:
        count = sum(1 for t in traces if t.problem == problem)
        out.append(f"Energy not counted in {count} run(s): {problem}.")
    if ok:
        why = split_unavailable(config)
        if why:
            out.append(f"Prompt/generation energy split not available: {why}.")
        else:
            errors = [t.clock_error_s for t in ok if t.clock_error_s is not None]
            if errors:
                out.append(
                    "Prompt/generation split: the runtime's phase timestamps placed on the sample"
                    f" clock within ±{max(errors) * 1000:.0f} ms."
                )
        rails = rail_summaries(config)
        if rails:
            shown = ", ".join(f"{name} {s.mean:.3g} J" for name, s in rails.items())
            out.append(f"Per-rail energy per run ({_rails_source(ok)}): {shown}.")
        else:
            missing = sorted({t.rails_problem for t in ok if t.rails_problem})
            if missing:
                out.append(f"Per-rail energy {missing[0].rstrip('.')}.")
    return out


def headline(reports: list[Measured]) -> str | None:
    """The findings document's sentence on energy: the configuration that spends least per token."""
    ranked = [(r.summaries[MJ_PER_TOKEN], r.label) for r in reports if MJ_PER_TOKEN in r.summaries]
    ranked = [(s, label) for s, label in ranked if s.n]
    if not ranked:
        return None
    best, label = min(ranked, key=lambda pair: pair[0].mean)
    low, high = best.ci95
    tpj = next(r.summaries[TOKENS_PER_JOULE] for r in reports if r.label == label)
    return (
        f"Least energy per generated token: {label} ({best.mean:.1f} mJ/token, 95% CI"
        f" {low:.1f}-{high:.1f}, n = {best.n}; {tpj.mean:.2f} tokens/J)."
    )


def findings_lines(reports: list[Measured]) -> tuple[str, ...]:
    """The findings document's energy sentences: the cheapest configuration, the phases, the rails."""
    line = headline(reports)
    if line is None:
        return ()
    out = [line]
    phases = []
    for r in reports:
        p, g = r.summaries.get(PROMPT_MJ_PER_TOKEN), r.summaries.get(GENERATION_MJ_PER_TOKEN)
        if p is not None and g is not None and p.n and g.n:
            phases.append(
                f"{r.label} {p.mean:.2f} mJ per prompt token and {g.mean:.1f} mJ per generated"
                f" token (n = {min(p.n, g.n)})"
            )
    if phases:
        out.append(f"Energy by phase: {'; '.join(phases)}.")
    rails = []
    for r in reports:
        found = rail_summaries(r)
        if found:
            shown = ", ".join(f"{name} {s.mean:.3g} J" for name, s in found.items())
            rails.append(f"{r.label}: {shown}")
    if rails:
        out.append(f"Per-rail energy per run: {'; '.join(rails)}.")
    out.append(ENERGY_NOTE)
    if phases:
        out.append(SPLIT_NOTE)
    return tuple(out)


def _rails_source(traces: list[Any]) -> str:
    """What the rails are: a phone's ODPM channels, or a host's RAPL packages."""
    if any(t.source == "rapl" for t in traces):
        return "the host's RAPL packages"
    return "the phone's power monitors, ODPM"
