"""What the on-device energy sampler costs, and the sampling rate it achieves.

    .venv/bin/python benchmarks/energy_overhead.py [--model stories110m] [--pairs 10]

The loopback phone (Debian's adb server on a private port, the test daemon
with a battery whose gauge files change every few milliseconds) runs the
host's llama.cpp build.  Runs alternate between the plain wrapper and the
wrapper with the energy sampler (which reads current_now, voltage_now and
status with shell builtins about five times a second), swapping which goes
first in each pair.  Printed: the median ratio of generation tokens/s with
and without the sampler (goal >= 0.99), and the samples per second the
sampler actually achieved (goal 4-10).  JSON with ``--json``.

``--cpu-only`` measures the sampler's CPU directly instead: the run wrapper
around ``sleep 5`` under dash and mksh, with and without the sampler, CPU
seconds of the wrapper per wall second (what the sampler takes from the
runtime on a busy core), without adb or a runtime.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path


def wrapper_cpu(shell: str, energy: bool) -> float:
    """CPU seconds per wall second the run wrapper itself uses around ``sleep 5``."""
    import os
    import resource
    import subprocess
    import time

    from pocketbench.core.devices import android, androidpower

    with tempfile.TemporaryDirectory() as d:
        bat = os.path.join(d, "battery")
        os.mkdir(bat)
        for name, value in (("current_now", "500000"), ("voltage_now", "3900000"),
                            ("status", "Discharging"), ("type", "Battery")):  # fmt: skip
            Path(bat, name).write_text(value + "\n")
        options: dict = dict(cwd=d, env=None, pidfile=f"{d}/pid", token="t", backstop_s=100,
                             poll_s=androidpower.ENERGY_POLL_S if energy else 0.25)  # fmt: skip
        if energy:
            options.update(tracefile=f"{d}/trace", sample=androidpower.sample_line(("file", bat)))
        script = android.wrapper_script(["sleep", "5"], **options)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run([shell, "-c", script], capture_output=True, check=False)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu / wall


def cpu_only() -> None:
    import shutil

    for shell in ("dash", "mksh"):
        path = shutil.which(shell)
        if path:
            plain, sampled = wrapper_cpu(path, False), wrapper_cpu(path, True)
            print(f"{shell}: wrapper CPU {plain:.4f} s/s plain, {sampled:.4f} s/s with the sampler")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stories110m")
    parser.add_argument("--quant", default="q4_0")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--gen-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cpu-only", action="store_true", help="the wrapper's CPU, no runtime")
    args = parser.parse_args()
    if args.cpu_only:
        cpu_only()
        return

    import pluggy

    import pocketbench.core.engine.hookspecs as hs
    from pocketbench.backends.llamacpp import build, plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices import open_device
    from pocketbench.core.devices.base import RunSetup
    from pocketbench.testing.phone.adbd import Fixture
    from pocketbench.testing.phone.adbhardware import Hardware
    from pocketbench.testing.phone.adbhost import attached_phone

    host_bin = str(build.ensure_built())
    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(hs)
    pm.register(plugin)
    with tempfile.TemporaryDirectory(prefix="pocketbench-energy-") as root:
        fixture = Fixture(hardware=Hardware(max_freqs_khz=(1_800_000, 2_400_000)))
        with attached_phone(Path(root), fixture) as phone:
            device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
            job = Job(
                backend="llamacpp",
                quant=args.quant,
                model=args.model,
                device=device.name,
                workload=Workload(
                    prompt_tokens=args.prompt_tokens,
                    gen_tokens=args.gen_tokens,
                    threads=args.threads,
                ),
                options={"llamacpp_bin": host_bin},
                energy=True,
            )
            prepared = pm.hook.pocketbench_prepare(job=job, device=device)
            device.check_setup(RunSetup(energy=True))

            def once(energy: bool) -> tuple[float, float | None]:
                device.use_setup(RunSetup(energy=energy))
                result = pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=1)
                trace = device.take_trace(result.argv)
                device.use_setup(RunSetup())
                metrics = pm.hook.pocketbench_parse(job=job, prepared=prepared, result=result)
                rate = trace.energy.rate_hz if trace and trace.energy else None
                return metrics.generation_tps, rate

            once(False)  # warm-up: page cache, CPU frequency
            ratios, plain, sampled, rates = [], [], [], []
            for i in range(args.pairs):
                order = (False, True) if i % 2 == 0 else (True, False)
                got = {energy: once(energy) for energy in order}
                plain.append(got[False][0])
                sampled.append(got[True][0])
                ratios.append(got[True][0] / got[False][0])
                if got[True][1]:
                    rates.append(got[True][1])
            device.close()
    out = {
        "model": args.model,
        "quant": args.quant,
        "pairs": args.pairs,
        "median_ratio_energy_over_plain": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "median_generation_tps": {
            "plain": statistics.median(plain),
            "energy": statistics.median(sampled),
        },
        "samples_per_s": {
            "median": statistics.median(rates) if rates else None,
            "min": min(rates, default=None),
            "max": max(rates, default=None),
        },
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{args.model} {args.quant}, {args.pairs} pairs on the loopback phone")
    print(
        f"median ratio with/without --energy: {out['median_ratio_energy_over_plain']:.4f}"
        f" (pairs {min(ratios):.3f}-{max(ratios):.3f}); goal >= 0.99"
    )
    print(
        f"median generation: {out['median_generation_tps']['plain']:.2f} tok/s plain,"
        f" {out['median_generation_tps']['energy']:.2f} tok/s with the sampler"
    )
    s = out["samples_per_s"]
    if s["median"]:
        print(
            f"samples/s: median {s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f}); goal 4-10"
        )


if __name__ == "__main__":
    main()
