"""The bandwidth probe against independent tools on this host, and its run time.

Read bandwidth: pocketbench's probe (read kernel) against ``sysbench memory
--memory-oper=read`` with the same threads and the same total buffer (one
block per thread, ``--memory-scope=local``).  Copy: the probe's copy kernel
with one thread, counted as bytes copied (half its STREAM-style figure),
against ``mbw``'s MEMCPY.  The tools alternate within each round, so load
from other work on the machine falls on both.  Both tools come from Debian
(``scripts/setup.sh test`` installs them).

Usage: python benchmarks/bandwidth.py [--rounds N] [--mib 128] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time

from pocketbench.core.devices import probe
from pocketbench.core.devices.local import LocalDevice

MIB_PER_GB = 1e9 / 2**20


def run_probe(binary: str, threads: int, mib: int) -> tuple[float, float, float]:
    """(median read GB/s, median copy GB/s as bytes copied, wall seconds) of one probe run."""
    start = time.perf_counter()
    out = probe.run(LocalDevice(), binary, threads=threads, buffer_mib=mib, trials=10)  # type: ignore[arg-type]
    wall = time.perf_counter() - start
    read = statistics.median(out.samples_gbps["read"])
    copy = statistics.median(out.samples_gbps["copy"]) / 2
    return read, copy, wall


def sysbench_read(threads: int, mib: int) -> float:
    """sysbench's sequential read bandwidth, GB/s."""
    block = max(1, mib // threads)
    text = subprocess.run(
        ["sysbench", "memory", f"--threads={threads}", f"--memory-block-size={block}M",
         "--memory-scope=local", "--memory-oper=read", "--memory-access-mode=seq",
         f"--memory-total-size={max(4, 2 * threads)}G", "run"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    mibs = float(re.search(r"\(([\d.]+) MiB/sec\)", text).group(1))  # type: ignore[union-attr]
    return mibs / MIB_PER_GB


def mbw_copy(mib: int) -> float:
    """mbw's MEMCPY (one thread), GB/s of bytes copied."""
    text = subprocess.run(
        ["mbw", "-q", "-n", "5", "-t0", str(mib)], capture_output=True, text=True, check=True
    ).stdout
    mibs = float(re.search(r"AVG.*Copy: ([\d.]+) MiB/s", text).group(1))  # type: ignore[union-attr]
    return mibs / MIB_PER_GB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mib", type=int, default=128, help="probe array size, all threads (MiB)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    for tool in ("sysbench", "mbw"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: bash scripts/setup.sh test installs it")
    binary = str(probe.build(probe.toolchain_for("", local=True)))
    loads = [os.getloadavg()[0]]
    print(f"probe {binary}; {args.rounds} rounds, {args.mib} MiB arrays")
    print(
        "| threads | probe read (GB/s) | sysbench read (GB/s) | ratio probe/sysbench | probe run time (s) |"
    )
    print("| --- | --- | --- | --- | --- |")
    copies: list[tuple[float, float]] = []
    for threads in args.threads:
        ours, theirs, ratios, walls = [], [], [], []
        for i in range(args.rounds):
            first_probe = i % 2 == 0  # alternate which goes first
            if first_probe:
                read, copy, wall = run_probe(binary, threads, args.mib)
                other = sysbench_read(threads, args.mib)
            else:
                other = sysbench_read(threads, args.mib)
                read, copy, wall = run_probe(binary, threads, args.mib)
            ours.append(read)
            theirs.append(other)
            ratios.append(read / other)
            walls.append(wall)
            if threads == 1:
                copies.append((copy, mbw_copy(args.mib)))
            loads.append(os.getloadavg()[0])
        print(
            f"| {threads} | {statistics.median(ours):.2f} | {statistics.median(theirs):.2f} |"
            f" {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) |"
            f" {statistics.median(walls):.2f} |"
        )
    if copies:
        ratio = statistics.median(a / b for a, b in copies)
        print(
            f"\ncopy, 1 thread: probe {statistics.median(a for a, _ in copies):.2f} GB/s copied,"
            f" mbw MEMCPY {statistics.median(b for _, b in copies):.2f} GB/s; median ratio {ratio:.3f}"
        )
    print(
        f"load average during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
