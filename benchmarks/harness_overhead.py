"""Wall-time overhead of the harness per measured run (issue 8 goal: < 50 ms locally).

Runs `bench` for one configuration, then reads the store: the time between
two consecutive runs being stored, minus the second run's own process wall
time, is what pocketbench spent around it (readings, parsing, progress,
storing, starting the process).  The median over the runs is printed.

    python benchmarks/harness_overhead.py --backend llamacpp --quant q4_0 --model tiny --runs 20
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--backend", default="llamacpp")
    ap.add_argument("--quant", default="q4_0")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--gen-tokens", type=int, default=16)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.db"
        subprocess.run(
            [
                str(BIN / "bench"),
                "--backend",
                a.backend,
                "--quant",
                a.quant,
                "--model",
                a.model,
                "--runs",
                str(a.runs),
                "--gen-tokens",
                str(a.gen_tokens),
                "--prompt-tokens",
                str(a.prompt_tokens),
                "--cooldown",
                "off",
                "--db",
                str(db),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT created_at, wall_s FROM runs ORDER BY id").fetchall()
    gaps = [(t1 - t0 - w1) * 1000 for (t0, _), (t1, w1) in zip(rows, rows[1:])]
    walls = [w * 1000 for _, w in rows]
    med = statistics.median(gaps)
    print(
        f"{a.backend} {a.quant} {a.model}: {len(gaps)} gaps; runtime wall median"
        f" {statistics.median(walls):.1f} ms; harness overhead per run median {med:.1f} ms"
        f" (min {min(gaps):.1f}, max {max(gaps):.1f}); goal < 50 ms: {'met' if med < 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
