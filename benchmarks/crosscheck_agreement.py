"""Does ``--crosscheck`` agree with the job's own figures?  llama-bench at the job's depth vs the runs.

    .venv/bin/python benchmarks/crosscheck_agreement.py [--model stories110m] [--quant q4_0]
        [--rounds 7] [--runs 5] [--prompt-tokens 64] [--gen-tokens 64] [--threads 2] [--json]

Each round is what one ``bench run --crosscheck`` does: measured runs, one
of them (mid-round here) followed by llama-bench (``-p P -n G -d 0,P``).
Per round, llama-bench's figure is divided by the median of that round's
runs:

- ``tg @ dP / generation``: decode after the P-token prompt, both sides
  (the pairing the cross-check states; should be ~1.0);
- ``tg (empty) / generation``: llama-bench's default, from an empty context
  (the figure that used to be compared; reads high);
- ``pp / prompt``: prompt evaluation into an empty context, both sides.

Prints the median ratio over rounds with its range; JSON with ``--json``.
The figures in docs/performance.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="stories110m")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import pluggy

    import pocketbench.core.engine.hookspecs as hs
    from pocketbench.backends.llamacpp import plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices.local import LocalDevice

    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(hs)
    pm.register(plugin)
    w = Workload(prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens, threads=args.threads)
    job = Job(backend="llamacpp", quant=args.quant, model=args.model, workload=w,
              options={"crosscheck": "1"})  # fmt: skip
    device = LocalDevice()
    prepared = pm.hook.pocketbench_prepare(job=job, device=device)
    warm = pm.hook.pocketbench_warmup(job=job, device=device, prepared=prepared, index=0)
    pm.hook.pocketbench_parse(job=job, prepared=prepared, result=warm)

    ratios: dict[str, list[float]] = {"tg_depth": [], "tg_empty": [], "pp": []}
    rounds = []
    for r in range(args.rounds):
        prepared.state.crosscheck_done = False  # one cross-check per round, as per bench run
        # Run 0 is followed by llama-bench; put it mid-round, so the round's runs
        # surround the cross-check in time (the host's load drifts).
        half = args.runs // 2
        order = [*range(1, half + 1), 0, *range(half + 1, args.runs)]
        metrics = []
        for i in order:
            result = pm.hook.pocketbench_run(job=job, device=device, prepared=prepared, index=i)
            metrics.append(pm.hook.pocketbench_parse(job=job, prepared=prepared, result=result))
        extra = next(m.extra for m in metrics if "llamabench_tg_tps" in m.extra)
        gen = statistics.median(m.generation_tps for m in metrics)
        prompt = statistics.median(m.prompt_tps for m in metrics)
        row = {
            "round": r,
            "generation_tps": gen,
            "prompt_tps": prompt,
            "llamabench_tg_tps": extra["llamabench_tg_tps"],
            "llamabench_tg_empty_tps": extra["llamabench_tg_empty_tps"],
            "llamabench_pp_tps": extra["llamabench_pp_tps"],
            "load_avg": os.getloadavg()[0],
        }
        rounds.append(row)
        ratios["tg_depth"].append(extra["llamabench_tg_tps"] / gen)
        ratios["tg_empty"].append(extra["llamabench_tg_empty_tps"] / gen)
        ratios["pp"].append(extra["llamabench_pp_tps"] / prompt)
        print(
            f"round {r}: generation {gen:.1f}, llama-bench tg@d{w.prompt_tokens} "
            f"{extra['llamabench_tg_tps']:.1f}, tg empty {extra['llamabench_tg_empty_tps']:.1f}; "
            f"prompt {prompt:.1f}, pp {extra['llamabench_pp_tps']:.1f} (load {row['load_avg']:.1f})",
            file=sys.stderr,
        )
    summary = {
        name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
        for name, v in ratios.items()
    }
    if args.json:
        print(json.dumps({"args": vars(args), "rounds": rounds, "ratios": summary}, indent=2))
        return 0
    labels = {
        "tg_depth": f"llama-bench tg{w.gen_tokens} @ d{w.prompt_tokens} / generation_tps",
        "tg_empty": f"llama-bench tg{w.gen_tokens} (empty context) / generation_tps",
        "pp": f"llama-bench pp{w.prompt_tokens} / prompt_tps",
    }
    print(
        f"{args.model} {args.quant}, {args.threads} threads, {args.rounds} rounds x {args.runs} runs"
    )
    for name, s in summary.items():
        print(f"  {labels[name]}: median {s['median']:.3f} (range {s['min']:.3f}-{s['max']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
