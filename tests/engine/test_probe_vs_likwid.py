"""The bandwidth probe reads as fast as likwid-bench's best load kernel on this host.

This host's available bandwidth moves from minute to minute (a shared VM:
likwid-bench alone reads 20-30 GB/s with one thread in runs a minute apart),
so the two tools alternate within one test, run by run: a neighbour that
slows one run of one tool slows a run of the other too.  One probe run
follows each likwid-bench kernel's run, so in each round both tools get as
many draws in the same seconds; each round compares the best of each
tool's draws, likwid-bench's being its best load kernel of that round.  The
probe must read at least 90% of likwid-bench in the median round.  Best
against best over the whole test was a contest of luck on this VM, lost
twice in CI on a single likwid-bench run 20% above that kernel's other
runs (33.2 GB/s against 25.9 and 28.0, the probe's runs all 22-28), and
with three rounds two such runs failed the median too: five rounds, and the
probe times non-temporal loads (that kernel's) among its own.
"""

from __future__ import annotations

import statistics

import pytest

from pocketbench.core.devices import probe
from pocketbench.testing import likwid

pytestmark = pytest.mark.slow

#: Bytes streamed by each tool: 8x this host's 32 MiB L3.
MIB = 256
ROUNDS = 5


@pytest.fixture(scope="module")
def binary():  # noqa: ANN201
    why = likwid.available()
    if why:
        pytest.skip(why)
    return probe.build(probe.toolchain_for("", local=True))


@pytest.mark.parametrize("threads", [1, 2])
def test_the_probe_reads_at_least_90_percent_of_likwid_bench(binary, threads: int) -> None:  # noqa: ANN001
    ratios, rounds = [], []
    for _ in range(ROUNDS):
        ours, theirs = [], []
        for kernel in likwid.kernels():
            theirs.append((likwid.load_gbps(kernel, threads, MIB), kernel))
            ours.append(likwid.probe_figure(binary, threads, MIB))
        ratios.append(max(ours) / max(theirs)[0])
        rounds.append(
            f"probe {[round(g, 1) for g in ours]},"
            f" likwid-bench {[(round(g, 1), k) for g, k in theirs]}"
        )
    assert statistics.median(ratios) >= 0.9, (
        f"the probe read {[round(r, 2) for r in ratios]} of likwid-bench's best load kernel"
        f" round by round ({threads} threads; GB/s: {'; '.join(rounds)})"
    )
