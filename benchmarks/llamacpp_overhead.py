"""What the llama.cpp backend costs: cached prepare time and generation speed overhead.

    .venv/bin/python benchmarks/llamacpp_overhead.py [--model llama-3.2-1b] [--quant q4_0]
        [--token-times on|off]

1. ``prepare`` of an already cached configuration, in this process and in a
   fresh interpreter (what a second ``bench`` invocation pays).  Target: < 1 s.
2. Generation tokens/s reported through the plugin (``pocketbench_run`` on the
   local device, then ``pocketbench_parse``) against the same argv started
   directly with ``subprocess.run`` (its eval line's tokens/s read with a
   regex of this script, not the backend's parser), alternating which goes
   first in each pair, and the median ratio plugin/direct (1.0 = no
   overhead).  Target: within 2 %.  ``--token-times on`` (the default, as
   ``bench`` runs) has the launcher read the runtime's stdout through a pipe
   and note each piece's arrival; ``off`` leaves stdout a file.

The first run of a configuration builds/quantizes (minutes for the 1B
preset: a 2.5 GB F16 file, then llama-quantize); that is not measured.
Prints a table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

PREPARE_IN_FRESH_PROCESS = """
import sys, time
t0 = time.perf_counter()
import pluggy
import pocketbench.core.engine.hookspecs as hs
from pocketbench.backends.llamacpp import plugin
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.api.model import Job, Workload
pm = pluggy.PluginManager("pocketbench"); pm.add_hookspecs(hs); pm.register(plugin)
job = Job(backend="llamacpp", quant=sys.argv[1], model=sys.argv[2],
          workload=Workload(prompt_tokens=int(sys.argv[3]), gen_tokens=int(sys.argv[4]),
                            threads=int(sys.argv[5])))
t1 = time.perf_counter()
pm.hook.pocketbench_prepare(job=job, device=LocalDevice())
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

#: The eval line's own rate, read independently of the backend's parser.
EVAL_RATE = re.compile(
    r"\beval time =\s*[\d.]+ ms /\s*\d+ runs\s*\(\s*[\d.]+ ms per token,\s*([\d.]+) tokens per second\)"
)


def setup(args: argparse.Namespace):  # noqa: ANN201
    import pluggy

    import pocketbench.core.engine.hookspecs as hs
    from pocketbench.backends.llamacpp import plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices.local import LocalDevice

    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(hs)
    pm.register(plugin)
    job = Job(
        backend="llamacpp",
        quant=args.quant,
        model=args.model,
        workload=Workload(
            prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens, threads=args.threads
        ),
    )
    return pm, job, LocalDevice()


def via_plugin(pm, job, device, prepared, index: int) -> float:  # noqa: ANN001
    result = pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=index)
    metrics = pm.hook.pocketbench_parse(job=job, prepared=prepared, result=result)
    return metrics.generation_tps


def direct(argv: tuple[str, ...], env: dict[str, str], timeout: float) -> float:
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    m = EVAL_RATE.search(proc.stderr)
    if proc.returncode != 0 or not m:
        raise SystemExit(f"direct run failed (exit {proc.returncode}): {proc.stderr[-300:]}")
    return float(m[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="llama-3.2-1b")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=6, help="plugin/direct pairs (default 6)")
    ap.add_argument("--token-times", choices=("on", "off"), default="on")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    pm, job, device = setup(args)
    from pocketbench.core.devices.base import RunSetup

    device.use_setup(RunSetup(token_times=args.token_times == "on"))
    t = time.perf_counter()
    prepared = pm.hook.pocketbench_prepare(job=job, device=device)  # may build/quantize
    first_prepare = time.perf_counter() - t
    t = time.perf_counter()
    prepared = pm.hook.pocketbench_prepare(job=job, device=device)
    cached_prepare = time.perf_counter() - t
    fresh = subprocess.run(
        [sys.executable, "-c", PREPARE_IN_FRESH_PROCESS, args.quant, args.model,
         str(args.prompt_tokens), str(args.gen_tokens), str(args.threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    fresh_import, fresh_prepare = (float(x) for x in fresh.stdout.split()[-2:])

    st = prepared.state
    timeout = job.workload.timeout_s
    direct(st.argv, st.env, timeout)  # warm the page cache for both sides
    plugin_tps: list[float] = []
    direct_tps: list[float] = []
    for i in range(args.pairs):
        # Alternate which side goes first, so drift (heat, other load) cancels.
        if i % 2 == 0:
            plugin_tps.append(via_plugin(pm, job, device, prepared, i + 1))
            direct_tps.append(direct(st.argv, st.env, timeout))
        else:
            direct_tps.append(direct(st.argv, st.env, timeout))
            plugin_tps.append(via_plugin(pm, job, device, prepared, i + 1))
    ratios = [p / d for p, d in zip(plugin_tps, direct_tps)]
    report = {
        "model": args.model,
        "quant": args.quant,
        "token_times": args.token_times,
        "argv": " ".join(st.argv),
        "first_prepare_s": first_prepare,
        "cached_prepare_s": cached_prepare,
        "fresh_process_import_s": fresh_import,
        "fresh_process_prepare_s": fresh_prepare,
        "plugin_generation_tps": plugin_tps,
        "direct_generation_tps": direct_tps,
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.model} {args.quant} (token times {args.token_times}): {report['argv']}")
    print(f"prepare: first {first_prepare:.2f} s, cached {cached_prepare:.3f} s, "
          f"fresh process {fresh_prepare:.3f} s (+ {fresh_import:.2f} s imports)")  # fmt: skip
    print(f"{'pair':>4} {'plugin tok/s':>13} {'direct tok/s':>13} {'ratio':>7}")
    for i, (p, d, r) in enumerate(zip(plugin_tps, direct_tps, ratios)):
        print(f"{i:>4} {p:>13.2f} {d:>13.2f} {r:>7.4f}")
    med = report["median_ratio"]
    print(f"median ratio plugin/direct: {med:.4f} ({(med - 1) * 100:+.2f} %; target within 2 %)")
    print(f"median plugin {statistics.median(plugin_tps):.2f} tok/s, "
          f"direct {statistics.median(direct_tps):.2f} tok/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
