"""Threads and cores for one device: the defaults and the one-line warning.

Default threads: on a device with clusters, the number of cores in the
fastest cluster (llama.cpp users report decode collapsing when threads
spill onto little cores, because every token waits for the slowest
thread); elsewhere the device's cores, at most :data:`MAX_DEFAULT_THREADS`.  With
``--cores``, the default is the number of cores allowed.  The runtime is
not pinned unless ``--cores`` is given: unpinned is what an app gets, and
the OS scheduler usually puts busy threads on big cores by itself.
"""

from __future__ import annotations

from collections.abc import Callable

from pocketbench.core.api import placement
from pocketbench.core.api.model import DeviceFacts

#: The default thread count never exceeds this (more threads than big cores collapse decode).
MAX_DEFAULT_THREADS = 4


def place(
    facts: DeviceFacts,
    cores: str | None,
    threads: int | None,
    echo: Callable[[str], None] | None = None,
) -> tuple[int, tuple[int, ...]]:
    """(threads, pinned cores) for ``facts``'s device; UsageError for cores it lacks."""
    if facts.kind == "unknown":  # a study's device not opened (findings rewritten from the store)
        return threads or 1, ()
    pinned = placement.resolve(cores, facts) if cores else ()
    if threads is None:
        if pinned:
            return len(pinned), pinned
        big = placement.fastest_cluster(facts)
        if big:
            return min(MAX_DEFAULT_THREADS, len(big)), pinned
        return max(1, min(MAX_DEFAULT_THREADS, facts.cores or 1)), pinned
    if pinned and threads > len(pinned) and echo is not None:
        echo(
            f"warning: --threads {threads} exceeds the {len(pinned)} core(s) allowed on"
            f" {facts.name} ({placement.format_list(pinned)}): threads will share cores and"
            " decode usually slows down"
        )
    return threads, pinned
