"""A study on one phone against the same study sharded over a 4-phone pool (issue 17).

    sudo .venv/bin/python benchmarks/lab_speedup.py --quants 8 --runs 3

Builds the loopback lab of the tests (two hosts as network namespaces, each
with Debian's adb server and two loopback phones; needs root), runs the same
llama.cpp study (tiny model, host build) once on one phone and once on
``pool:Loopback A25`` over both hosts, each into a fresh store, and prints
the wall times, the speed-up and the scheduler's idle time per phone (time a
phone had no configuration while the study went on).

The loopback phones run their programs on this host, so four phones share
its cores: the speed-up here is bounded by the host's CPU, not by the
scheduler.  Real phones each bring their own CPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

QUANTS = [
    "baseline",
    "q8_0",
    "q4_0",
    "q4_1",
    "q5_0",
    "q5_k_s",
    "q4_k_m",
    "q6_k",
    "q5_k_m",
    "q4_k_s",
]


def run(  # type: ignore[no-untyped-def]
    devices: list[str],
    servers: list[str],
    args: argparse.Namespace,
    bin_dir: str,
    tmp: Path,
    spread: str = "shard",
):
    from pocketbench.core.analysis.study import parse_study
    from pocketbench.core.analysis.study_run import run_study
    from pocketbench.core.engine.plugins import Registry
    from pocketbench.core.engine.pool import open_targets
    from pocketbench.core.results.store import Store

    study = parse_study(
        {
            "name": "speedup",
            "models": ["tiny"],
            "devices": devices,
            "runs": args.runs,
            "warmup": 1,
            "workload": {"prompt_tokens": 32, "gen_tokens": 32, "threads": 1},
            "lab": {"servers": servers, "spread": spread},
            "framework": [
                {
                    "backend": "llamacpp",
                    "quants": QUANTS[: args.quants],
                    "options": {"llamacpp_bin": bin_dir},
                }
            ],
        }
    )
    registry = Registry.from_entry_points(third_party=False)
    targets = open_targets(study.devices, servers=study.lab.servers, spread=spread)
    try:
        with Store.open(tmp / f"{len(targets.phones())}.db") as store:
            result = run_study(study, registry=registry, store=store, devices=targets)
    finally:
        targets.close()
    assert not result.errors, result.errors
    return result.pool


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quants", type=int, default=8, help="configurations (llama.cpp schemes)")
    ap.add_argument("--runs", type=int, default=3, help="measured runs per configuration")
    args = ap.parse_args()
    from pocketbench.backends.llamacpp import build
    from pocketbench.testing.phone.netlab import lab_host, netns_problem

    problem = netns_problem()
    if problem:
        raise SystemExit(problem)
    bin_dir = str(build.ensure_built())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with lab_host(tmp / "h1", index=1) as h1, lab_host(tmp / "h2", index=2) as h2:
            servers = [h1.server, h2.server]
            # Quantize on the host and push every model to every phone first, so
            # neither timed study pays for it (replicate: each phone runs each).
            warm = tmp / "warm"
            warm.mkdir()
            once = argparse.Namespace(quants=args.quants, runs=1)
            run(["pool:Loopback A25"], servers, once, bin_dir, warm, spread="replicate")
            one_dir, pool_dir = tmp / "one", tmp / "pool"
            one_dir.mkdir()
            pool_dir.mkdir()
            one = run([f"adb://{h1.server}/{h1.serials[1]}"], servers, args, bin_dir, one_dir)
            pool = run(["pool:Loopback A25"], servers, args, bin_dir, pool_dir)
    load = os.getloadavg()
    print(
        f"study: {args.quants} configurations x {args.runs} runs (+1 warm-up), llama.cpp tiny, 1 thread"
    )
    print(f"one phone:        {one.wall_s:7.1f} s")
    print(f"4-phone pool:     {pool.wall_s:7.1f} s   speed-up {one.wall_s / pool.wall_s:.2f}x")
    for phone, idle in sorted(pool.idle_s.items()):
        print(f"  idle {idle:6.1f} s ({100 * idle / pool.wall_s:4.1f}%)  {phone}")
    total_idle = sum(pool.idle_s.values())
    print(
        f"scheduler idle: {total_idle:.1f} phone-seconds of {4 * pool.wall_s:.1f} ({100 * total_idle / (4 * pool.wall_s):.1f}%)"
    )
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
