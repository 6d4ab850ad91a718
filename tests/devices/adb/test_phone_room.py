"""A study that does not fit on the phone stops before anything is pushed.

Interleaved rounds push every model of a phone before round 1, so `bench
study` first asks the phone how much room it has (`df` where the files go)
and what it already holds.  The loopback phone answers `df` with the room
its fixture gives; real adb server, real llama.cpp.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import run_bench

from .conftest import tiny_llamacpp_study

pytestmark = [pytest.mark.adb, pytest.mark.slow]


def _study(path: Path, spec: str, bin_dir: str, quants: list[str]) -> Path:
    return tiny_llamacpp_study(
        path, name="room", device=spec, bin_dir=bin_dir, quants=quants, runs=2
    )


def _runs(db: Path) -> dict[str, list[tuple[int, float]]]:
    """Every configuration's stored runs: (index, generation speed)."""
    with Store.open(db, create=False) as s:
        return {
            c.quant: [(r.index, r.metrics.generation_tps) for r in c.ok_runs]
            for c in configurations(s, "room")
        }


def test_a_study_without_room_on_the_phone_stops_in_one_line_before_any_push(
    attach, tmp_path: Path, host_build: str
) -> None:
    phone = attach()
    db = tmp_path / "r.db"
    study = _study(tmp_path / "room.toml", phone.spec, host_build, ["q8_0"])
    args = ("study", str(study), "--db", str(db), "--cooldown", "off", "-o", "findings.md")
    first = run_bench(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    measured = _runs(db)
    assert [len(v) for v in measured.values()] == [2]
    sent = phone.daemon.bytes_received

    # Two more models, and the phone has room for one of them at a time only.
    phone.daemon.free_bytes = 2_000_000
    _study(study, phone.spec, host_build, ["q8_0", "q4_0", "q4_1"])
    refused = run_bench(*args, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = [ln for ln in refused.stderr.splitlines() if "free" in ln]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    line = lines[0]
    # Said once, for the phone (not as one configuration's error).
    assert line.startswith(f"error: {phone.spec} has 1.9 MiB free in /data/local/tmp/pocketbench")
    # The tools and the q8_0 model are on the phone already: only the two new models count.
    need = re.search(r"push ([0-9.]+) MiB \(2 files it does not hold yet\) before round 1", line)
    assert need and float(need[1]) > 1.9, line
    assert "on the phone" in line and "or measure fewer configurations" in line
    # Nothing was pushed, and nothing measured is lost.
    assert phone.daemon.bytes_received == sent
    assert _runs(db) == measured
    assert not list((phone.daemon.sandbox).rglob("*Q4_0*"))

    # With room, the same command measures what is missing and keeps the rest.
    phone.daemon.free_bytes = None
    done = run_bench(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = _runs(db)
    assert after["q8_0"] == measured["q8_0"]
    assert sorted(after) == ["q4_0", "q4_1", "q8_0"] and all(len(v) == 2 for v in after.values())
