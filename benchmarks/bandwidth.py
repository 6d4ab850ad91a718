"""The bandwidth probe against likwid-bench's best load kernel on this host.

Each round runs likwid-bench's load kernels (``load_avx512``, ``load_avx``,
``load_sse``, ``load_mem``, ``load``: those this CPU has) and then the probe,
with the same threads over the same bytes, so load from other work on the
machine falls on both; a round records the 1-minute load average and, from
the probe, the CPU other processes took while it ran.  ``--neighbour`` starts
a memory-streaming process (the probe itself, one thread, 256 MiB) for the
whole benchmark.  likwid comes from Debian (``scripts/setup.sh`` installs it).

Usage: python benchmarks/bandwidth.py [--rounds N] [--mib 512] [--threads 1 2] [--neighbour]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

from pocketbench.core.devices import probe
from pocketbench.core.devices.local import LocalDevice
from pocketbench.testing import likwid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--neighbour", action="store_true", help="stream memory beside both tools")
    args = ap.parse_args()
    why = likwid.available()
    if why:
        raise SystemExit(why)
    binary = probe.build(probe.toolchain_for("", local=True))
    neighbour = None
    if args.neighbour:
        neighbour = subprocess.Popen(
            [str(binary), "-t", "1", "-m", "256", "-r", "1000"], stdout=subprocess.DEVNULL
        )
    try:
        for threads in args.threads:
            theirs, ours, others, loads, walls = [], [], [], [], []
            for _ in range(args.rounds):
                loads.append(os.getloadavg()[0])
                theirs.append(likwid.best_load(threads, args.mib))
                start = time.perf_counter()
                out = probe.run(
                    LocalDevice(), binary, threads=threads, buffer_mib=args.mib, trials=6
                )
                walls.append(time.perf_counter() - start)
                ours.append(likwid.figure_of(out))
                others.append(out.others_cores if out.others_cores is not None else float("nan"))
            best, kernel = max(theirs)
            print(
                f"{threads} thread(s){' + streaming neighbour' if neighbour else ''}:"
                f" likwid-bench best {best:.1f} GB/s ({kernel}; rounds"
                f" {', '.join(f'{g:.1f}' for g, _ in theirs)}),"
                f" probe best {max(ours):.1f} GB/s (rounds {', '.join(f'{g:.1f}' for g in ours)}),"
                f" probe/likwid {max(ours) / best:.2f};"
                f" load {min(loads):.1f}-{max(loads):.1f}, others during the probe"
                f" {statistics.median(others):.2f} cores, probe run {statistics.median(walls):.1f} s"
            )
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()


if __name__ == "__main__":
    main()
