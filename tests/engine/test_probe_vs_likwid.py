"""The bandwidth probe reads as fast as likwid-bench's best load kernel on this host.

This host's available bandwidth moves from minute to minute (a shared VM),
so the two tools alternate within one test, round by round, and each keeps
its best round: a neighbour that slows one round of one tool slows a round
of the other too.  The probe must read at least 90% of likwid-bench.
"""

from __future__ import annotations

import pytest

from pocketbench.core.devices import probe
from pocketbench.testing import likwid

pytestmark = pytest.mark.slow

#: Bytes streamed by each tool: 8x this host's 32 MiB L3.
MIB = 256
ROUNDS = 3


@pytest.fixture(scope="module")
def binary():  # noqa: ANN201
    why = likwid.available()
    if why:
        pytest.skip(why)
    return probe.build(probe.toolchain_for("", local=True))


@pytest.mark.parametrize("threads", [1, 2])
def test_the_probe_reads_at_least_90_percent_of_likwid_bench(binary, threads: int) -> None:  # noqa: ANN001
    ours, theirs = [], []
    for _ in range(ROUNDS):
        theirs.append(likwid.best_load(threads, MIB))
        ours.append(likwid.probe_figure(binary, threads, MIB))
    best_theirs, kernel = max(theirs)
    assert max(ours) >= 0.9 * best_theirs, (
        f"probe {max(ours):.1f} GB/s against likwid-bench {kernel} {best_theirs:.1f} GB/s"
        f" ({threads} threads; rounds: probe {ours}, likwid {[round(g, 1) for g, _ in theirs]})"
    )
