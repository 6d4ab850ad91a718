"""The findings document's per-phone breakdown, for a study measured on several phones.

A row per configuration and phone (runs, generation and prompt speed), and,
for the configurations measured on several phones of one model
(``replicate``), a table separating phone-to-phone from run-to-run variation
(:func:`pocketbench.core.results.phones.variance_split`), a row per
configuration and its method said once under it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pocketbench.core.results.findings import PhoneBreakdown, TextTable
from pocketbench.core.results.store import Store


def phone_breakdown(
    store: Store, campaign: str, labels: Mapping[str, str]
) -> PhoneBreakdown | None:
    """None unless more than one phone measured ``campaign``; ``labels``: config key -> label."""
    from pocketbench.core.results.phones import (
        SPLIT_HEADER,
        SPLIT_NOTE,
        phone_runs,
        replica_key,
        split_row,
        variance_split,
    )

    runs = [r for r in phone_runs(store, campaign) if r.config_key in labels]
    if len({r.phone for r in runs}) < 2:
        return None

    def cell(n: int, mean: float, sd: float) -> str:
        if n == 0:
            return "n/a"
        return f"{mean:.2f}" if n < 2 else f"{mean:.2f} ± {sd:.2f}"

    rows = []
    for r in sorted(runs, key=lambda r: (labels[r.config_key], r.phone)):
        n, *gen = r.summary("generation_tps")
        _, *prompt = r.summary("prompt_tps")
        rows.append((labels[r.config_key], r.phone, str(n), cell(n, *gen), cell(n, *prompt)))
    splits = []
    replicas: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in runs:
        per_phone = replicas.setdefault((replica_key(r.config_key), r.model), {})
        per_phone.setdefault(r.phone, []).extend(r.values["generation_tps"])
    for (key, _model), samples in replicas.items():
        split = variance_split(samples)
        if split is not None:
            label = next(labels[r.config_key] for r in runs if replica_key(r.config_key) == key)
            splits.append(split_row(label, split))
    variance = (
        TextTable(header=SPLIT_HEADER, rows=tuple(splits), notes=(SPLIT_NOTE,)) if splits else None
    )
    return PhoneBreakdown(
        header=(
            "Configuration",
            "Phone",
            "Runs",
            "Generation (tokens/s)",
            "Prompt eval (tokens/s)",
        ),
        rows=tuple(rows),
        variance=variance,
    )
