"""Imported campaigns in the findings document, beside the measured configurations.

A study's ``imports`` names campaigns stored by ``bench import``.  Each gets
its own section: a table of what the file held, labelled imported, the
source file with its sha256, and where one imported configuration is the
same as one measured (:func:`~pocketbench.core.analysis.compare.pair_imports`:
backend, scheme, workload and model file) the worded comparison of the two.
Imported runs are never pooled with measured ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.results.build import configurations

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
    #: (imported, measured) configurations that are the same one: compared in words.
    pairs: tuple[tuple[ConfigReport, ConfigReport], ...]
    lines: tuple[str, ...]


def imported_part(
    name: str, imported: list[ConfigReport], measured: list[ConfigReport]
) -> ImportedPart:
    """An imported campaign's table, and the measured configurations it is compared with."""
    from pocketbench.core.analysis.compare import pair_imports

    old = {c.config_key: c for c in measured}
    new = {c.config_key: c for c in imported}
    pairs = []
    lines = []
    for ko, kn in pair_imports(old, new):
        pairs.append((new[kn], old[ko]))
        lines.append(
            f"{new[kn].label} is compared with the measured {old[ko].label}: the same backend,"
            " scheme, workload and model file."
        )
    for c in imported:
        info = c.imported or {}
        lines.append(
            f"{c.label}: imported from {info.get('path', '?')} ({info.get('format', '?')},"
            f" sha256 {info.get('sha256', '?')}); measured by another tool, with no warm-up"
            " information."
        )
    return ImportedPart(
        heading=f"Imported: {name}",
        title=f"Imported Results ({name})",
        configs=tuple(imported),
        pairs=tuple(pairs),
        lines=tuple(lines),
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
