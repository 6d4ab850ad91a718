"""Core placement: which CPU cores run the model (``--cores big|little|all|LIST``).

Phones group their cores into clusters of equal maximum frequency (the
Galaxy A25: 2 big cores at 2.4 GHz, 6 little ones at 2.0 GHz).  Clusters are
found from the per-core maxima device facts already read
(:attr:`DeviceFacts.max_freqs_khz`); ``big`` is the fastest cluster,
``little`` the slowest, ``all`` every core.  A LIST names cores by number:
``4-7`` or ``0,2,6-7``.  The result is a sorted tuple of core numbers and
a hexadecimal mask (what toybox ``taskset`` and llama.cpp's ``--cpu-mask``
take).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import DeviceFacts

NAMED = ("big", "little", "all")
#: No phone or host has more cores than this (Linux's own NR_CPUS tops out at 8192):
#: a larger number is a typo, refused before a range is expanded.
MAX_CORE = 8191
_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*\Z")


def clusters(max_freqs_khz: Sequence[int]) -> list[tuple[int, ...]]:
    """Cores grouped by maximum frequency, slowest cluster first (empty: unknown)."""
    groups: dict[int, list[int]] = {}
    for core, freq in enumerate(max_freqs_khz):
        if freq > 0:
            groups.setdefault(freq, []).append(core)
    return [tuple(groups[f]) for f in sorted(groups)]


def mask(cores: Sequence[int]) -> str:
    """The hexadecimal affinity mask of ``cores`` (``(6, 7)`` -> ``"c0"``)."""
    return format(sum(1 << c for c in set(cores)), "x")


def format_list(cores: Sequence[int]) -> str:
    """``(0, 1, 2, 6)`` -> ``"0-2,6"``: how reports show a placement."""
    out: list[str] = []
    ordered = sorted(set(cores))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def check_spec(spec: str) -> str:
    """The spec normalised (``Big`` -> ``big``), or UsageError before any device opens."""
    text = spec.strip().lower().replace(" ", "")
    if text in NAMED:
        return text
    if _LIST.match(text):
        # Bounded before anything expands a range: 0-99999999999 is answered at once.
        big = [n for n in re.findall(r"\d+", text) if len(n) > 5 or int(n) > MAX_CORE]
        if big:
            raise UsageError(
                f"--cores {spec!r}: core {big[0]} does not exist on any device; core numbers"
                f" run from 0 to at most {MAX_CORE}"
            )
        return text
    raise UsageError(
        f"--cores {spec!r}: use big, little, all or a list of core numbers such as 4-7 or 0,2"
    )


def parse_list(text: str) -> tuple[int, ...]:
    text = check_spec(text)
    cores: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if last < first:
            raise UsageError(f"--cores {text}: the range {part} runs backwards; write {hi}-{lo}")
        cores.update(range(first, last + 1))
    return tuple(sorted(cores))


def resolve(spec: str, facts: DeviceFacts) -> tuple[int, ...]:
    """The cores ``spec`` names on the device ``facts`` describes; UsageError when it cannot.

    ``all`` is every core; ``big``/``little`` need at least two clusters
    (a device whose cores all share one maximum frequency has no big cores);
    a LIST must name cores that exist.
    """
    text = check_spec(spec)
    count = facts.cores or len(facts.max_freqs_khz)
    if text == "all":
        return tuple(range(count))
    if text in ("big", "little"):
        found = clusters(facts.max_freqs_khz)
        if len(found) < 2:
            why = (
                "its cores all have the same maximum frequency"
                if found
                else "its core frequencies are not readable"
            )
            raise UsageError(
                f"--cores {text}: {facts.name} has no {text} cluster ({why}); "
                "use --cores all or a list of core numbers"
            )
        return found[-1] if text == "big" else found[0]
    cores = parse_list(text)
    missing = [c for c in cores if c >= count]
    if missing:
        raise UsageError(
            f"--cores {text}: {facts.name} has no core {format_list(missing)}"
            f" (it has cores 0-{count - 1})"
        )
    return cores


def fastest_cluster(facts: DeviceFacts) -> tuple[int, ...]:
    """The big cores, or () when the device has fewer than two clusters."""
    found = clusters(facts.max_freqs_khz)
    return found[-1] if len(found) >= 2 else ()
