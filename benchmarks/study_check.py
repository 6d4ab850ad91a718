"""How fast a large study grid is checked: duplicates are found in one pass.

Goal (issue 28): a study of 2,000 models, devices, imports or frameworks is
answered (accepted, or refused for a duplicate) in under a second, and
``--cores`` with a range of 10^11 cores is refused without expanding it.
Usage: python benchmarks/study_check.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from pocketbench.core.analysis.study import parse_study
from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.placement import check_spec

N = 2000


def grids() -> dict[str, dict[str, Any]]:
    fw = [{"backend": "llamacpp", "quants": ["q4_0"]}]
    names = [f"model-{i}.gguf" for i in range(N)]
    return {
        "2000 models, all different": {"models": names, "framework": fw},
        "2000 models, the last repeats the first": {
            "models": [*names[:-1], names[0]],
            "framework": fw,
        },
        "2000 imports, the last repeats the first": {
            "models": ["tiny"],
            "framework": fw,
            "imports": [*(f"c{i}" for i in range(N - 1)), "c0"],
        },
        "2000 frameworks, the last repeats the first": {
            "models": ["tiny"],
            "framework": [
                {
                    "backend": "llamacpp",
                    "quants": ["q4_0"],
                    "label": f"f{i}",
                    "options": {"k": str(i)},
                }
                for i in range(N - 1)
            ]
            + [{"backend": "llamacpp", "quants": ["q4_0"], "label": "last", "options": {"k": "0"}}],
        },
    }


def timed(call: Callable[[], object], repeat: int) -> tuple[list[float], str]:
    times, answer = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        try:
            call()
            answer = "accepted"
        except UsageError as exc:
            answer = str(exc)[:70]
        times.append(time.perf_counter() - t)
    return times, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases: dict[str, Callable[[], object]] = {
        name: (lambda data=data: parse_study(data, source="grid.toml"))
        for name, data in grids().items()
    }
    cases["--cores 0-99999999999"] = lambda: check_spec("0-99999999999")
    for name, call in cases.items():
        times, answer = timed(call, args.repeat)
        print(
            f"{name}: median {statistics.median(times) * 1000:.1f} ms,"
            f" max {max(times) * 1000:.1f} ms -> {answer}"
        )


if __name__ == "__main__":
    main()
