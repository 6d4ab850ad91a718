"""Adaptive sampling: runs used by `--target-ci PCT` against the fixed 8 (issue 8).

    python benchmarks/adaptive.py --backend llamacpp --quant q4_0 --model stories110m --target-ci 2

Runs `bench --target-ci PCT --max-runs N` and prints how many measured runs
it needed and the interval it reached, next to what 8 fixed runs give.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from pocketbench.core.results.stats import summarize

BIN = Path(sys.executable).parent


def measure(args: argparse.Namespace, extra: list[str]) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.db"
        subprocess.run(
            [
                str(BIN / "bench"),
                "--backend",
                args.backend,
                "--quant",
                args.quant,
                "--model",
                args.model,
                "--cooldown",
                "off",
                "--db",
                str(db),
                *extra,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT metrics FROM runs WHERE warmup = 0 AND ok = 1 ORDER BY id")
            import json

            return [json.loads(m)["generation_tps"] for (m,) in rows]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", default="llamacpp")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--model", default="stories110m")
    ap.add_argument("--target-ci", type=float, default=2.0)
    ap.add_argument("--max-runs", type=int, default=30)
    a = ap.parse_args()
    for label, extra in (
        (
            f"--target-ci {a.target_ci}",
            ["--runs", "3", "--target-ci", str(a.target_ci), "--max-runs", str(a.max_runs)],
        ),
        ("fixed 8 runs", ["--runs", "8"]),
    ):
        samples = measure(a, extra)
        s = summarize(samples)
        print(
            f"{label:<18} runs used {s.n:>3}; generation {s.mean:.2f} tok/s,"
            f" 95% CI half-width {s.half_width / s.mean * 100:.2f}% of the mean"
        )


if __name__ == "__main__":
    main()
