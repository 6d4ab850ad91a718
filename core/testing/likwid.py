"""likwid-bench, the HPC field's bandwidth microbenchmark, as the probe's reference.

``likwid-bench -t KERNEL -w S0:SIZE:THREADS`` streams SIZE bytes with THREADS
threads on socket 0 and prints ``MByte/s: X`` (10^6 bytes).  Its load
kernels (``load_avx512``, ``load_avx``, ``load_sse``, ``load_mem`` with
non-temporal loads, scalar ``load``) only read, like a decode step; the best
of them in a minute is what this host's cores can read then.  Debian's
``likwid`` package (``scripts/setup.sh``) provides it.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path

from pocketbench.core.devices import probe
from pocketbench.core.devices.local import LocalDevice

#: The load kernels, widest first; those the CPU lacks are skipped.
LOAD_KERNELS = ("load_avx512", "load_avx", "load_sse", "load_mem", "load")
_FLAGS = {"load_avx512": "avx512f", "load_avx": "avx"}


def available() -> str:
    """ "" when likwid-bench can run here, else why not (one line)."""
    if shutil.which("likwid-bench") is None:
        return "likwid-bench is not installed (Debian package likwid; scripts/setup.sh installs it)"
    proc = subprocess.run(
        ["likwid-bench", "-t", "load", "-w", "S0:1MB:1"], capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or "MByte/s" not in proc.stdout:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        return f"likwid-bench cannot run here: {last[:200]}"
    return ""


def kernels() -> tuple[str, ...]:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return tuple(k for k in LOAD_KERNELS if _FLAGS.get(k, "") in flags or k not in _FLAGS)


def load_gbps(kernel: str, threads: int, mib: int) -> float:
    """One likwid-bench run of ``kernel``: GB/s (10^9 bytes per second)."""
    proc = subprocess.run(
        ["likwid-bench", "-t", kernel, "-w", f"S0:{mib}MB:{threads}"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    found = re.search(r"MByte/s:\s+([0-9.]+)", proc.stdout)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"likwid-bench -t {kernel} failed: {proc.stderr.strip()[-200:]}")
    return float(found.group(1)) / 1e3


def best_load(threads: int, mib: int) -> tuple[float, str]:
    """The best load kernel of this minute: (GB/s, kernel)."""
    results = [(load_gbps(k, threads, mib), k) for k in kernels()]
    return max(results)


def figure_of(out: probe.ProbeOutput) -> float:
    """The device figure of one probe run (the mean of its best clean read trials), GB/s."""
    from pocketbench.core.api.bandwidth import DeviceBandwidth

    figure = DeviceBandwidth(
        threads=out.threads, buffer_bytes=out.buffer_bytes, samples_gbps=out.samples_gbps,
        clean=out.clean,
    ).figure_samples  # fmt: skip
    return statistics.fmean(figure)


def probe_figure(binary: Path, threads: int, mib: int, trials: int = 6) -> float:
    """One probe run on this host: its device figure, GB/s."""
    return figure_of(
        probe.run(LocalDevice(), binary, threads=threads, buffer_mib=mib, trials=trials)
    )
