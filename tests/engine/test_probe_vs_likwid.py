"""The bandwidth probe reads as fast as likwid-bench's best load kernel on this host.

This host's available bandwidth moves from minute to minute (a shared VM:
likwid-bench alone reads 20-30 GB/s with one thread in runs a minute apart),
so the two tools alternate within one test, run by run: a neighbour that
slows one run of one tool slows a run of the other too.  One probe run
follows each likwid-bench kernel's run.  Each tool is judged by its typical
run, the median: likwid-bench by its best kernel's median over the rounds,
the probe by the median of all its runs.  The probe must read at least 90%
of that.  A best run against a best run was a contest of luck on this VM,
lost twice in CI on a single likwid-bench run 20% above that kernel's other
runs (33.2 GB/s against 25.9 and 28.0, the probe's runs all 22-28).
"""

from __future__ import annotations

import statistics

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
        for kernel in likwid.kernels():
            theirs.append((likwid.load_gbps(kernel, threads, MIB), kernel))
            ours.append(likwid.probe_figure(binary, threads, MIB))
    by_kernel: dict[str, list[float]] = {}
    for gbps, kernel in theirs:
        by_kernel.setdefault(kernel, []).append(gbps)
    best_theirs, kernel = max((statistics.median(runs), k) for k, runs in by_kernel.items())
    typical = statistics.median(ours)
    assert typical >= 0.9 * best_theirs, (
        f"probe median {typical:.1f} GB/s against likwid-bench {kernel}'s median"
        f" {best_theirs:.1f} GB/s"
        f" ({threads} threads; runs: probe {[round(g, 1) for g in ours]},"
        f" likwid-bench {[(round(g, 1), k) for g, k in theirs]})"
    )
