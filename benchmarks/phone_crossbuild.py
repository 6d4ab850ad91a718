"""Phones without an NDK (issue 14): cross-build time, cached prepare, bytes pushed again.

    python benchmarks/phone_crossbuild.py              # cached build (builds once if missing)
    python benchmarks/phone_crossbuild.py --cold DIR   # first-time build into an empty cache DIR

Uses Debian's adb server on a private port and the loopback phone in arm64
mode (aarch64 executables run through qemu via binfmt_misc; see
pocketbench.testing.phone.arm64).  Prints:

- the cross-build time (``--cold``: a fresh cache, zig's own libc/libc++
  builds included, so this is what a user's first phone job costs);
- the median time of ``prepare`` for the phone once everything is cached
  (tools, model, quantized file, prompt, pushed files);
- the bytes the phone received during a first and a second, unchanged job.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def cross_build(cold: Path | None) -> float:
    from pocketbench.backends.llamacpp import build, crossbuild
    from pocketbench.backends.llamacpp.crosstarget import cpu_features, target_for
    from pocketbench.testing.phone.arm64 import CPUINFO

    if cold is not None:
        # The pinned source is not part of the build time: reuse the downloaded archive.
        os.environ["POCKETBENCH_LLAMACPP_SDIST"] = str(build.source_archive())
        os.environ["POCKETBENCH_CACHE"] = str(cold)
        if any(cold.iterdir()):
            raise SystemExit(f"--cold {cold}: not empty")
    target = target_for("arm64-v8a", cpu_features(CPUINFO), device="loopback")
    start = time.perf_counter()
    built = crossbuild.ensure_built(target, crossbuild.find_toolchain())
    elapsed = time.perf_counter() - start
    print(
        f"cross-build ({'first time' if cold else 'cached'}): {elapsed:8.1f} s  -> {built.bin_dir}"
    )
    return elapsed


def phone_figures(repeat: int) -> None:
    import pluggy

    import pocketbench.core.engine.hookspecs
    from pocketbench.backends.llamacpp import plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices import open_device
    from pocketbench.testing.cli import run_bench
    from pocketbench.testing.phone.adbhost import attached_phone
    from pocketbench.testing.phone.arm64 import arm64_fixture

    with (
        tempfile.TemporaryDirectory() as tmp,
        attached_phone(Path(tmp) / "phone", arm64_fixture()) as phone,
    ):
        args = (
            "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
            "--device", f"adb:{phone.serial}", "--runs", "1", "--warmup", "0",
            "--prompt-tokens", "16", "--gen-tokens", "4", "--cooldown", "off",
        )  # fmt: skip
        env = {"ANDROID_ADB_SERVER_PORT": str(phone.server_port)}
        for job in ("first job", "second job"):
            before = phone.daemon.bytes_received
            r = run_bench(*args, cwd=tmp, timeout=3600, **env)
            assert r.returncode == 0, r.stderr
            print(f"{job}: {phone.daemon.bytes_received - before:>12,} bytes pushed")

        pm = pluggy.PluginManager("pocketbench")
        pm.add_hookspecs(pocketbench.core.engine.hookspecs)
        pm.register(plugin)
        job = Job(
            backend="llamacpp", quant="q4_0", model="tiny",
            workload=Workload(prompt_tokens=16, gen_tokens=4, threads=2),
        )  # fmt: skip
        device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
        try:
            device.facts()  # a job reads the facts before prepare; not prepare's cost
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                pm.hook.pocketbench_prepare(job=job, device=device)
                times.append(time.perf_counter() - start)
        finally:
            device.close()
        print(
            f"cached prepare for the phone: median {statistics.median(times) * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={repeat})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", type=Path, help="an empty cache directory: time a first build")
    ap.add_argument("--repeat", type=int, default=5, help="cached prepares to time")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cross_build(a.cold)
    phone_figures(a.repeat)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
