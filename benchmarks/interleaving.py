"""What interleaved rounds cost and what they save (issue 24).

    .venv/bin/python benchmarks/interleaving.py warming
    .venv/bin/python benchmarks/interleaving.py quick [--study examples/quick-study.toml]

``warming``: the warming-device backend of the tests (every run 5% slower
than the last, whatever runs; generation 2x, prompt equal), measured in
sequence and interleaved; prints the true ratio and what each order's
findings say, with their intervals.  The child processes print speeds
computed from their arguments, so these figures do not depend on the load.

``quick``: the study file run once in each order, each into a fresh store
(a fresh campaign) with the same caches, and prints the wall time of each
and each configuration's mean generation and prompt speed in both orders,
then the wall-time cost of interleaving and the switch penalty (the
geometric mean over configurations of interleaved / sequential speed).
A configuration that is slower interleaved than in sequence, beyond the
noise, pays for the switch (page cache, a cold runtime): that is what
decides whether a warm-up per round is needed.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path


def warming(seed: int) -> None:
    from pocketbench.core.analysis.findings import build_findings
    from pocketbench.core.analysis.study import parse_study
    from pocketbench.core.analysis.study_run import run_study
    from pocketbench.core.devices.local import LocalDevice
    from pocketbench.core.results.store import Store
    from pocketbench.testing.backends import WarmingBackend, registry_with

    speeds = {"slow": (200.0, 50.0), "fast": (200.0, 100.0)}
    print("order        metric      ratio   95% CI            p (adjusted)")
    for order in ("sequential", "interleaved"):
        backend = WarmingBackend(schemes=speeds, slowdown_pct=5.0)
        study = parse_study(
            {
                "name": f"warming-{order}",
                "models": ["tiny"],
                "runs": 8,
                "warmup": 1,
                "order": order,
                "seed": seed,
                "workload": {"prompt_tokens": 16, "gen_tokens": 8, "threads": 1},
                "framework": [{"backend": "warming", "quants": ["fast", "slow"]}],
            }
        )
        with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "r.db") as store:
            result = run_study(
                study,
                registry=registry_with(backend),
                store=store,
                devices={"local": LocalDevice()},
            )
            findings = build_findings(result.study, result.configs, store, result.campaign)
        for c in (c for s in findings.sections for c in s.conclusions):
            if c.metric == "total_tps":
                continue
            # Always fast / slow, so the two orders read alike.
            r, (lo, hi) = c.ratio.estimate, c.ratio.ci
            if c.a.endswith("Slow"):
                r, lo, hi = 1 / r, 1 / hi, 1 / lo
            print(f"{order:12} {c.metric:11} {r:6.3f}  [{lo:6.3f}, {hi:6.3f}]  {c.p_adjusted:.3g}")
        print(f"  {next(x for x in findings.statistics if x.startswith('Drift'))}")
    print("true: generation_tps 2.000, prompt_tps 1.000")


def quick(study_file: str) -> None:
    import subprocess
    import sys

    from pocketbench.core.results.build import configurations
    from pocketbench.core.results.store import Store

    bench = str(Path(sys.executable).parent / "bench")
    means: dict[str, dict[str, tuple[float, float]]] = {}
    walls: dict[str, float] = {}
    print(f"load before: {os.getloadavg()}")
    for order in ("sequential", "interleaved"):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "r.db"
            begun = time.monotonic()
            done = subprocess.run(
                [bench, "study", study_file, "--db", str(db), "--order", order, "-o",
                 str(Path(tmp) / "f.md")],
                capture_output=True,
                text=True,
            )  # fmt: skip
            wall = walls[order] = time.monotonic() - begun
            if done.returncode != 0:
                print(done.stderr[-2000:])
                raise SystemExit(f"{order}: bench study exited {done.returncode}")
            print(f"{order}: {wall:.1f} s wall, load after {os.getloadavg()}")
            with Store.open(db, create=False) as store:
                for c in configurations(store):
                    g, p = c.summary("generation_tps"), c.summary("prompt_tps")
                    means.setdefault(f"{c.backend} {c.quant}", {})[order] = (g.mean, p.mean)
    print("configuration            gen seq  gen int   ratio | prompt seq  prompt int  ratio")
    for name, m in means.items():
        (gs, ps), (gi, pi) = m["sequential"], m["interleaved"]
        print(
            f"{name:24} {gs:8.1f} {gi:8.1f} {gi / gs:7.3f} | {ps:10.1f} {pi:11.1f} {pi / ps:6.3f}"
        )
    seq, inter = walls["sequential"], walls["interleaved"]
    print(f"wall-time cost of interleaving: {inter - seq:+.1f} s ({100 * (inter / seq - 1):+.1f}%)")
    # Interleaved, nearly every run follows another configuration; in sequence none but
    # the first does: the geometric mean of the ratios above is what a switch costs.
    for i, metric in enumerate(("generation", "prompt")):
        logs = [math.log(m["interleaved"][i] / m["sequential"][i]) for m in means.values()]
        penalty = 100 * (1 - math.exp(sum(logs) / len(logs)))
        print(f"switch penalty, {metric}: {penalty:+.1f}% slower interleaved (geometric mean)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("warming")
    w.add_argument("--seed", type=int, default=7)
    q = sub.add_parser("quick")
    q.add_argument("--study", default="examples/quick-study.toml")
    args = ap.parse_args()
    if args.what == "warming":
        warming(args.seed)
    else:
        quick(args.study)


if __name__ == "__main__":
    main()
