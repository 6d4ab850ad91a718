"""The bandwidth probe reads as fast as likwid-bench's best load kernel on this host.

This host's available bandwidth moves from minute to minute (a shared VM:
likwid-bench alone reads 20-30 GB/s with one thread in runs a minute apart),
so the two tools alternate within one test, run by run, and each keeps its
best run: a neighbour that slows one run of one tool slows a run of the
other too.  Both get as many draws: one probe run after each likwid-bench
kernel's run (the best of 15 likwid-bench runs against the best of 3 probe
runs was a contest of luck the probe lost at 0.89 in CI).  The probe must
read at least 90% of likwid-bench's best.
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
        for kernel in likwid.kernels():
            theirs.append((likwid.load_gbps(kernel, threads, MIB), kernel))
            ours.append(likwid.probe_figure(binary, threads, MIB))
    best_theirs, kernel = max(theirs)
    assert max(ours) >= 0.9 * best_theirs, (
        f"probe {max(ours):.1f} GB/s against likwid-bench {kernel} {best_theirs:.1f} GB/s"
        f" ({threads} threads; runs: probe {[round(g, 1) for g in ours]},"
        f" likwid-bench {[(round(g, 1), k) for g, k in theirs]})"
    )
