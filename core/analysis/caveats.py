"""The findings document's caveats: what limits each answer, worded as strongly as the evidence.

A caveat that applies to several configurations is one sentence naming
them, never one sentence per configuration.  "Thermal throttling" is said
only when temperatures, core clocks or Android's thermal status show it; a
fall in speed without such evidence is drift ("speed fell during the
runs"), which a comparison with that configuration must allow for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pocketbench.core.api.presets import PRESETS
from pocketbench.core.results import energy
from pocketbench.core.results.report import CORE_METRICS, ConfigReport, metric_spec

if TYPE_CHECKING:
    from pocketbench.core.analysis.study import Study

#: A rise this large (°C) from the first to the last run, with a fall in speed, is heat.
WARMING_C = 2.0


def heat_evidence(c: ConfigReport) -> str | None:
    """What shows this configuration's device throttling, or None without such evidence."""
    drop = c.freq_drop
    if drop is not None and drop.throttling:
        status = (
            f", Android thermal status up to {drop.thermal_status}" if drop.thermal_status else ""
        )
        return (
            f"the cores' frequency went from {drop.first_mhz:.0f} to {drop.last_mhz:.0f} MHz"
            f" ({drop.change_pct:+.1f}%){status}"
        )
    temps = c.temperatures
    if c.throttling and len(temps) >= 2 and temps[-1] - temps[0] >= WARMING_C:
        return f"the device warmed from {temps[0]:.1f} to {temps[-1]:.1f} °C"
    return None


def drift_text(c: ConfigReport) -> str:
    """ "generation -12.7% from the first to the last run, p = 0.0077" for a falling speed."""
    from pocketbench.core.results.present import pvalue

    m = next(
        m for m in ("generation_tps", "prompt_tps", "total_tps", *c.throttling) if m in c.throttling
    )
    t = c.trends[m]
    return f"{metric_spec(m).short} {t.change_pct:+.1f}% from the first to the last run, {pvalue(t.pvalue)}"


def drifting(present: Sequence[ConfigReport]) -> list[ConfigReport]:
    """Configurations whose speed fell across the runs without evidence of heat."""
    return [c for c in present if c.throttling and heat_evidence(c) is None]


def throttled(present: Sequence[ConfigReport]) -> list[ConfigReport]:
    """Configurations whose device shows throttling (clocks, thermal status or warming)."""
    return [c for c in present if heat_evidence(c) is not None]


def on_host(present: Sequence[ConfigReport]) -> list[ConfigReport]:
    return [c for c in present if c.facts is not None and c.facts.kind == "local"]


def _listed(items: Sequence[str]) -> str:
    return "; ".join(items)


def caveats(study: Study, labelled: Sequence[tuple[str, ConfigReport | None]]) -> tuple[str, ...]:
    """Every caveat of the document, each one sentence naming the configurations it concerns."""
    present = [c for _, c in labelled if c is not None and c.n_ok]
    out: list[str] = []
    missing = [label for label, c in labelled if c is None or c.n_ok == 0]
    if missing:
        out.append(f"No successful runs are stored for {', '.join(missing)}; their cells read n/a.")
    hot = throttled(present)
    if hot:
        out.append(
            "Likely thermal throttling: "
            + _listed([f"{c.label} ({heat_evidence(c)})" for c in hot])
            + ". Their means are below what a cool device gives."
        )
    fell = drifting(present)
    if fell:
        out.append(
            "Speed fell during the runs (drift): "
            + _listed([f"{c.label} ({drift_text(c)})" for c in fell])
            + ". Nothing recorded shows heat, so the cause is unknown (a warming device, a"
            " neighbour on the host); their means depend on when they ran, and a comparison"
            " with them can be off by as much as the fall."
        )
    busy = [c for c in present if c.busy_host is not None]
    if busy:
        out.append(
            "The host was busy before some runs (load average above its cores): "
            + _listed([f"{c.label} (up to {c.busy_host:.1f})" for c in busy])
            + ". Other processes competed for the CPU, so these speeds are lower and noisier"
            " than on a quiet machine."
        )
    uncounted = [
        f"{c.label}: {note.rstrip('.')}"
        for c in present
        for note in energy.notes(c)
        if "not counted" in note
    ]
    if uncounted:
        out.append(f"Energy: {_listed(uncounted)}.")
    failed = [f"{c.label} ({c.n_failed} of {len(c.runs)})" for c in present if c.n_failed]
    if failed:
        out.append(
            f"Some measured runs failed: {', '.join(failed)}; their raw output is stored"
            " (bench report shows the errors)."
        )
    flagged = [
        (c.label, len({i for m in CORE_METRICS for i in c.summary(m).outliers})) for c in present
    ]
    flagged = [(label, n) for label, n in flagged if n]
    if flagged:
        out.append(
            "Runs flagged as outliers by Tukey's fences, kept in the statistics: "
            + ", ".join(f"{label} ({n})" for label, n in flagged)
            + "."
        )
    few = [f"{c.label} ({c.n_ok})" for c in present if c.n_ok < 5]
    if few:
        out.append(
            f"Fewer than 5 successful runs: {', '.join(few)}; their intervals are wide and"
            " tests have little power."
        )
    out.append(accuracy_caveat(labelled))
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
    temps = [t for c in present for t in c.temperatures]
    if present and not temps:
        out.append(
            "No device temperatures were recorded, so a fall in speed is reported as drift,"
            " not as thermal throttling, unless the cores' clocks show it."
        )
    elif temps:
        out.append(
            f"Device temperatures after runs ranged from {min(temps):.1f} to {max(temps):.1f} °C."
        )
    out += host_caveat(present)
    return tuple(out)


def host_caveat(present: Sequence[ConfigReport]) -> list[str]:
    """Which configurations ran on the local host rather than a phone, named."""
    host = on_host(present)
    if not host:
        return []
    which = (
        "Every configuration"
        if len(host) == len(present)
        else f"These configurations ({', '.join(c.label for c in host)})"
    )
    return [
        f"{which} ran on the local host, not on a phone: absolute speeds differ from a"
        " phone's; comparisons between configurations on the same host hold."
    ]


def accuracy_caveat(labelled: Sequence[tuple[str, ConfigReport | None]]) -> str:
    """What the document says about output quality: not measured, or what its figures are not."""
    measured = [(label, c) for label, c in labelled if c is not None]
    without = [label for label, c in measured if c.quality is None]
    if len(without) == len(measured):
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
