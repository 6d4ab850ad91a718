"""Imported campaigns in the findings document, beside the measured configurations.

A study's ``imports`` names campaigns stored by ``bench import``.  Each gets
its own section: a table of what the file held, labelled imported, and a
table of where each configuration comes from (source file, format, sha256)
and, where one imported configuration is the same as one measured
(:func:`~pocketbench.core.analysis.compare.pair_imports`: backend, scheme,
workload and model file), the measured one it is compared with.  What holds
for every row is said once under that table.  Imported runs are never
pooled with measured ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.results.build import configurations
from pocketbench.core.results.findings import TextTable

if TYPE_CHECKING:
    from pocketbench.core.analysis.study import Study
    from pocketbench.core.results.report import ConfigReport
    from pocketbench.core.results.store import Store


def imported_campaigns(study: Study, store: Store) -> list[tuple[str, list[ConfigReport]]]:
    """The study's imported campaigns, each configuration labelled as imported."""
    known = {c["name"] for c in store.campaigns()}
    out = []
    for name in study.imports:
        if name not in known:
            raise UsageError(
                f"the study's imports name campaign {name!r}, but the store has none;"
                f" import it first: bench import FILE --campaign {name}"
            )
        found = [c for c in configurations(store, name) if c.imported is not None]
        if not found:
            raise UsageError(
                f"campaign {name!r} in the study's imports was measured, not imported;"
                " list it in imports only when bench import stored it"
            )
        out.append((name, [attrs.evolve(c, label=_imported_label(c)) for c in found]))
    return out


def _imported_label(c: ConfigReport) -> str:
    w = c.workload
    return f"{c.backend} {c.quant} p{w.prompt_tokens}/g{w.gen_tokens} (imported, {c.model})"


@frozen(kw_only=True)
class ImportedPart:
    """What the findings show of one imported campaign (the findings module lays it out)."""

    heading: str
    title: str
    configs: tuple[ConfigReport, ...]
    #: (imported, measured) configurations that are the same one: compared in the tables.
    pairs: tuple[tuple[ConfigReport, ConfigReport], ...]
    #: A row per imported configuration: its source file, format, sha256 (and its measured twin).
    sources: TextTable


def imported_part(
    name: str, imported: list[ConfigReport], measured: list[ConfigReport]
) -> ImportedPart:
    """An imported campaign's table, and the measured configurations it is compared with."""
    from pocketbench.core.analysis.compare import pair_imports

    old = {c.config_key: c for c in measured}
    new = {c.config_key: c for c in imported}
    paired = pair_imports(old, new)
    pairs = [(new[kn], old[ko]) for ko, kn in paired]
    twin = {kn: old[ko].label for ko, kn in paired}
    header = ("Configuration", "Imported from", "Format", "sha256")
    notes = ["Measured by another tool, with no warm-up information."]
    if pairs:
        header += ("Compared with",)
        notes.append(
            "Compared with: the measured configuration of the same backend, scheme, workload"
            " and model file; the comparison tables test the two."
        )
    rows = []
    for c in imported:
        info = c.imported or {}
        row = (c.label, *(str(info.get(k, "?")) for k in ("path", "format", "sha256")))
        rows.append(row + ((twin.get(c.config_key, "n/a"),) if pairs else ()))
    return ImportedPart(
        heading=f"Imported: {name}",
        title=f"Imported Results ({name})",
        configs=tuple(imported),
        pairs=tuple(pairs),
        sources=TextTable(header=header, rows=tuple(rows), notes=tuple(notes)),
    )


def import_caveats(imported: list[tuple[str, list[ConfigReport]]]) -> tuple[str, ...]:
    if not imported:
        return ()
    names = ", ".join(name for name, _ in imported)
    return (
        f"Imported campaigns ({names}) hold what their files say, measured by another tool under"
        " conditions pocketbench did not see (warm-ups, device state); they are shown beside the"
        " measured configurations, never pooled with them.",
    )
