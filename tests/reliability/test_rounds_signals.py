"""An interleaved study stopped mid-round (SIGTERM, kill -9) resumes in its rounds and order.

A real ``bench study`` with the ``hold`` backend (its run 0 ends at once,
later runs hold while a file exists): two configurations (two models), so
round 0 is stored whole and round 1's first run is the one that holds.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from pocketbench.core.engine.rounds import round_order
from pocketbench.testing.cli import BIN, wait_for_runs
from pocketbench.testing.wait import process_gone, wait_until

STUDY = """
name = "held"
models = ["a", "b"]
runs = 4
warmup = 0
seed = 11

[workload]
prompt_tokens = 8
gen_tokens = 8

[[framework]]
backend = "hold"
quants = ["baseline"]
"""


def _runs(db: Path) -> list[tuple[str, int, int, int]]:
    with sqlite3.connect(db) as c:
        return c.execute(
            "SELECT j.model, r.idx, r.round, r.position FROM runs r JOIN jobs j"
            " ON r.job_id = j.id WHERE r.warmup = 0 AND r.ok = 1 ORDER BY r.id"
        ).fetchall()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_study_resumes_at_its_unfinished_round_losing_and_repeating_nothing(
    bench, tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "r.db"
    study = tmp_path / "held.toml"
    study.write_text(STUDY, encoding="utf-8")
    argv = [str(BIN / "bench"), "study", str(study), "--db", str(db), "--cooldown", "off",
            "-o", str(tmp_path / "f.md")]  # fmt: skip
    proc = bench.start(argv, hold=True)
    try:
        assert wait_for_runs(db, 2, timeout=300) >= 2, "round 0 was not stored in time"
        runtime = bench.held_runtime()
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of bench can react
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + sig and "Traceback" not in err, err
    assert wait_until(lambda: process_gone(runtime), timeout=60), "the runtime kept running"
    before = _runs(db)
    assert sorted((m, r) for m, _, r, _ in before) == [("a", 0), ("b", 0)]
    bench.release()
    again = bench.run(argv)
    assert again.returncode == 0, again.stderr
    after = _runs(db)
    assert after[:2] == before, "a stored run was lost or changed"
    assert sorted((m, r) for m, _, r, _ in after) == [(m, r) for m in "ab" for r in range(4)]
    assert sorted((m, i) for m, i, _, _ in after) == [(m, i) for m in "ab" for i in range(4)]
    # Every round in the seed's order, round 1 included though it was cut.
    for n in range(4):
        ran = [m for m, _, r, _ in after if r == n]
        assert ran == [["a", "b"][i] for i in round_order(11, "local", n, 2)]
    md = (tmp_path / "f.md").read_text()
    assert "Order: interleaved rounds, seed 11" in md
