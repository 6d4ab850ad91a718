"""Energy per token as report metrics (``--energy``).

A run's energy is what the device's gauge (battery, or RAPL on a host)
recorded over the whole run: model loading, prompt evaluation and
generation.  The figures divide it by the generated tokens, so they are the
energy an app pays per generated token of a request of this shape.  The run's
prompt/generation split is not made: llama.cpp prints phase durations, not
timestamps on the sampler's clock, so any split would be a guess.  Runs whose
energy is not trustworthy (charging, samples stopped) have no energy figure;
their speed still counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pocketbench.core.results.stats import Summary

if TYPE_CHECKING:
    from pocketbench.core.api.model import RunRecord
    from pocketbench.core.results.report import ConfigReport

MJ_PER_TOKEN = "mj_per_token"
TOKENS_PER_JOULE = "tokens_per_joule"
ENERGY_METRICS = (MJ_PER_TOKEN, TOKENS_PER_JOULE)
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
    return {MJ_PER_TOKEN: joules * 1000 / m.gen_tokens, TOKENS_PER_JOULE: m.gen_tokens / joules}


def _stat(s: Summary) -> dict[str, Any]:
    return {"mean": s.mean, "stdev": s.stdev, "ci95": list(s.ci95), "n": s.n}


def energy_json(config: ConfigReport) -> dict[str, Any] | None:
    """``{mj_per_token: {mean, stdev, ci95, n}, tokens_per_joule: {...}}`` or None."""
    if MJ_PER_TOKEN not in config.summaries:
        return None
    return {name: _stat(config.summaries[name]) for name in ENERGY_METRICS}


def energy_traces(config: ConfigReport) -> list[Any]:
    return [r.trace.energy for r in config.records if r.trace is not None and r.trace.energy]


def notes(config: ConfigReport) -> list[str]:
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
    return out


def headline(reports: list[ConfigReport]) -> str | None:
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
