"""Start-up cost of the command line: `bench --help` and `bench plugins`.

Goal (issue 8): under 300 ms each, without importing torch, executorch,
statsmodels or matplotlib.  Usage: python benchmarks/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
HEAVY = ("torch", "executorch", "statsmodels", "matplotlib")


def wall(argv: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return times


def heavy_imports(args: list[str]) -> list[str]:
    code = (
        "import sys\nfrom pocketbench.core.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({args!r})\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a printed list of names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    baseline = wall([sys.executable, "-c", "pass"], a.repeat)
    print(f"python -c pass            median {statistics.median(baseline) * 1000:7.1f} ms")
    for args in (["--help"], ["plugins"]):
        t = wall([str(BIN / "bench"), *args], a.repeat)
        med = statistics.median(t) * 1000
        goal = "meets" if med < 300 else "MISSES"
        print(
            f"bench {' '.join(args):<18} median {med:7.1f} ms  ({goal} the 300 ms goal);"
            f" heavy modules imported: {heavy_imports(args) or 'none'}"
        )


if __name__ == "__main__":
    main()
