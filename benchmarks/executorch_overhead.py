"""What the ExecuTorch backend costs: cached prepare time and generation speed overhead.

    .venv/bin/python benchmarks/executorch_overhead.py [--model tiny] [--quant baseline]

1. ``prepare`` of an already cached configuration, in this process and in a
   fresh interpreter (what a second ``bench`` invocation pays).  Target: < 2 s.
2. Generation tokens/s through the plugin (``pocketbench_run`` on the local
   device, then ``pocketbench_parse``) against the same runner argv started
   directly with ``subprocess.run`` (output to files), alternating, and the median ratio
   plugin/direct (1.0 = no overhead; the runner's own timestamps are used for
   both, so only interference can move it).

Prints a table, or JSON with ``--json``.  Needs the executorch extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

PREPARE_IN_FRESH_PROCESS = """
import sys, time, pluggy
t0 = time.perf_counter()
import pocketbench.core.engine.hookspecs as hs
from pocketbench.backends.executorch import plugin
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.api.model import Job, Workload
pm = pluggy.PluginManager("pocketbench"); pm.add_hookspecs(hs); pm.register(plugin)
job = Job(backend="executorch", quant=sys.argv[1], model=sys.argv[2],
          workload=Workload(prompt_tokens=int(sys.argv[3]), gen_tokens=int(sys.argv[4]), threads=int(sys.argv[5])))
t1 = time.perf_counter()
pm.hook.pocketbench_prepare(job=job, device=LocalDevice())
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def build(args: argparse.Namespace):
    import pluggy

    import pocketbench.core.engine.hookspecs as hs
    from pocketbench.backends.executorch import plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices.local import LocalDevice

    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(hs)
    pm.register(plugin)
    job = Job(
        backend="executorch",
        quant=args.quant,
        model=args.model,
        workload=Workload(
            prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens, threads=args.threads
        ),
    )
    return pm, job, LocalDevice()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--quant", default="baseline")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=8, help="alternating plugin/direct pairs")
    ap.add_argument("--prepares", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from pocketbench.backends.executorch.parse import RunnerReport

    pm, job, device = build(args)
    print(
        f"first prepare of {args.model}/{args.quant} (exports when not cached) ...", file=sys.stderr
    )
    prepared = pm.hook.pocketbench_prepare(job=job, device=device)

    in_process = []
    for _ in range(args.prepares):
        t = time.perf_counter()
        pm.hook.pocketbench_prepare(job=job, device=device)
        in_process.append(time.perf_counter() - t)
    fresh_prepare, fresh_total = [], []
    for _ in range(args.prepares):
        t = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                PREPARE_IN_FRESH_PROCESS,
                args.quant,
                args.model,
                str(args.prompt_tokens),
                str(args.gen_tokens),
                str(args.threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        fresh_total.append(time.perf_counter() - t)
        fresh_prepare.append(float(out.stdout.split()[1]))

    argv = list(prepared.state.argv)
    via_plugin, direct, ratios = [], [], []
    for i in range(args.pairs):
        order = ("plugin", "direct") if i % 2 == 0 else ("direct", "plugin")
        got = {}
        for kind in order:
            if kind == "plugin":
                result = pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=i)
                got[kind] = pm.hook.pocketbench_parse(
                    job=job, prepared=prepared, result=result
                ).generation_tps
            else:
                # Files, as a shell's "> out 2> err" would: a pipe read by this
                # process would compete with the runner for the CPU.
                with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
                    out.seek(0)
                    err.seek(0)
                    stdout = out.read().decode(errors="replace")
                    stderr = err.read().decode(errors="replace")
                report = RunnerReport.from_output(stdout, stderr)
                m = report.to_metrics(prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens)
                got[kind] = m.generation_tps
        via_plugin.append(got["plugin"])
        direct.append(got["direct"])
        ratios.append(got["plugin"] / got["direct"])

    summary = {
        "model": args.model,
        "quant": args.quant,
        "workload": {
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "threads": args.threads,
        },
        "cached_prepare_s_in_process_median": statistics.median(in_process),
        "cached_prepare_s_fresh_process_median": statistics.median(fresh_prepare),
        "fresh_process_total_s_median": statistics.median(fresh_total),
        "prepare_goal_s": 2.0,
        "generation_tps_plugin_median": statistics.median(via_plugin),
        "generation_tps_direct_median": statistics.median(direct),
        "ratio_plugin_over_direct_median": statistics.median(ratios),
        "ratios": ratios,
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(
        f"ExecuTorch backend overhead: {args.model} / {args.quant}, "
        f"{args.prompt_tokens}+{args.gen_tokens} tokens, {args.threads} threads"
    )
    print(
        f"  cached prepare, in process (median of {args.prepares}):   "
        f"{summary['cached_prepare_s_in_process_median']:.3f} s   (goal < 2 s)"
    )
    print(
        f"  cached prepare, fresh process (hook only):          "
        f"{summary['cached_prepare_s_fresh_process_median']:.3f} s"
    )
    print(
        f"  fresh process incl. interpreter and imports:        "
        f"{summary['fresh_process_total_s_median']:.3f} s"
    )
    print(
        f"  generation tok/s via plugin / direct (median of {args.pairs} pairs): "
        f"{summary['generation_tps_plugin_median']:.1f} / {summary['generation_tps_direct_median']:.1f}"
    )
    print(
        f"  median ratio plugin/direct: {summary['ratio_plugin_over_direct_median']:.3f} "
        f"(per pair: {', '.join(f'{r:.3f}' for r in ratios)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
