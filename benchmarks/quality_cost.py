"""Cost of a quality evaluation per configuration: first time and cached.

Usage: python benchmarks/quality_cost.py [--ctx 256] [--chunks 8] [--backend llamacpp ...]

Each configuration's quality is measured twice with the protocol asked for,
against its framework's baseline.  The first measurement uses an evaluation
text no earlier run has seen (the default text plus a line naming this run),
so nothing is cached: it includes the reference's evaluation (once per
framework) and the configuration's.  The second finds both in the cache.
Models and runtimes must already be prepared (run the configurations once);
preparing is not part of what is measured here.  Figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "llamacpp": ("baseline", "q8_0", "q4_0"),
    "executorch": ("baseline", "8da4w"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--chunks", type=int, default=8)
    ap.add_argument("--backend", action="append", choices=sorted(CONFIGS))
    args = ap.parse_args()

    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.api.quality import QualityProtocol
    from pocketbench.core.engine.evaltext import default_text, user_text
    from pocketbench.core.engine.plugins import Registry
    from pocketbench.core.engine.quality import QualityPlan, measure

    registry = Registry.from_entry_points(warn=print)
    base = default_text().path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "text.txt"
        # A new text: a line naming this run at the end (after the scored tokens) changes
        # the sha256, so no cached reference or comparison is found.
        fresh.write_text(base + f"\nquality_cost run {time.time_ns()}\n", encoding="utf-8")
        plan = QualityPlan(
            text=user_text(str(fresh)),
            protocol=QualityProtocol(ctx=args.ctx, chunks=args.chunks),
        )
        print(f"protocol {plan.protocol.key}: {plan.protocol.scored} scored positions")
        print("| configuration | first time (s) | cached (s) | mean KL |")
        print("|---|---|---|---|")
        for backend in args.backend or list(CONFIGS):
            for quant in CONFIGS[backend]:
                job = Job(
                    backend=backend,
                    quant=quant,
                    model="smollm2-135m",
                    workload=Workload(prompt_tokens=64, gen_tokens=64),
                )
                t0 = time.perf_counter()
                rec = measure(registry, job, plan)
                first = time.perf_counter() - t0
                t0 = time.perf_counter()
                measure(registry, job, plan)
                cached = time.perf_counter() - t0
                kl = rec.value("kl_mean")
                print(f"| {backend} {quant} | {first:.1f} | {cached:.2f} | {kl:.4f} |")


if __name__ == "__main__":
    main()
