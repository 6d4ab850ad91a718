"""The pool scheduler with real child processes: shard spreads configurations over phones,
a phone that goes away hands its configuration to the others, replicate leaves it incomplete."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pocketbench.core.api.errors import DeviceError
from pocketbench.core.api.model import Job, ProcessResult, Workload
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.pool import PoolRun, Targets, run_targets
from pocketbench.core.engine.rounds import Design
from pocketbench.core.engine.runner import Runner
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.backends import FakeBackend, registry_with


class Phone(LocalDevice):
    """This host under a phone's name, each its own lease; ``dies_after`` runs, then it is gone."""

    is_local = False

    def __init__(self, name: str, dies_after: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.dies_after = dies_after
        self.ran = 0

    def run(self, argv: Sequence[str], **kw):  # type: ignore[no-untyped-def, override]
        if self.dies_after is not None and self.ran >= self.dies_after:
            raise DeviceError(f"{self.name} disconnected while running: reconnect it")
        self.ran += 1
        result: ProcessResult = super().run(argv, **kw)
        return result


QUANTS = ("baseline", "q8_0", "q4_0", "q4_k_m")


def jobs(device: str) -> list[Job]:
    w = Workload(prompt_tokens=16, gen_tokens=8, threads=1)
    return [
        Job(backend="fake-cpp", quant=q, model="tiny", device=device, workload=w, runs=3, warmup=0)
        for q in QUANTS
    ]


def runner(store: Store) -> Runner:
    registry = registry_with(FakeBackend("fake-cpp", {q: (30.0, 10.0) for q in QUANTS}))
    return Runner(registry=registry, store=store, campaign=store.campaign("pool"))


def phone_of_runs(db: Path) -> dict[str, set[str]]:
    """Configuration -> the phones that stored its runs."""
    import json
    import sqlite3

    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT j.quant, j.facts FROM runs r JOIN jobs j ON r.job_id = j.id WHERE r.warmup = 0 AND r.ok = 1"
        )
        out: dict[str, set[str]] = {}
        for quant, facts in rows:
            out.setdefault(quant, set()).add(json.loads(facts)["name"])
    return out


def test_shard_spreads_configurations_and_a_dead_phones_one_moves(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    a, b, c = Phone("phone-a"), Phone("phone-b", dies_after=1), Phone("phone-c")
    targets = Targets(devices={"pool:X": a}, groups={"pool:X": [a, b, c]}, shared={"pool:X"})
    said: list[str] = []
    with Store.open(tmp_path / "r.db") as store:
        result = run_targets(
            runner(store), jobs("pool:X"), targets, lambda j, e: said.append(str(e)), said.append
        )
        configs = configurations(store, "pool")
    assert not [o for o in result.outcomes if o.error]
    assert result.requeued == 1 and any("phone-b went away" in s for s in said)
    assert len(configs) == 4 and all(len(cfg.ok_runs) == 3 for cfg in configs)
    phones = phone_of_runs(tmp_path / "r.db")
    # b's one stored run is kept; its configuration finished on another phone
    moved = [q for q, p in phones.items() if "phone-b" in p]
    assert len(moved) == 1 and len(phones[moved[0]]) == 2
    assert set().union(*phones.values()) == {"phone-a", "phone-b", "phone-c"}
    assert set(result.idle_s) == {"phone-a", "phone-b", "phone-c"}


def replicate_with_a_dying_phone(
    tmp_path: Path, dies_after: int, *, pool: bool = False, design: Design | None = None
) -> tuple[PoolRun, list[str], list[str]]:
    """Phones a and b measure every configuration; b goes away after ``dies_after`` runs.

    Returns the outcome, the errors given to ``on_error`` and the lines said.
    """
    a, b = Phone("phone-a"), Phone("phone-b", dies_after=dies_after)
    targets = Targets.single({"phone-a": a, "phone-b": b})
    if pool:
        targets.pools["pool:X"] = ["phone-a", "phone-b"]
    errors: list[str] = []
    said: list[str] = []
    with Store.open(tmp_path / "r.db") as store:
        result = run_targets(
            runner(store),
            jobs("phone-a") + jobs("phone-b"),
            targets,
            lambda j, e: errors.append(str(e)),
            said.append,
            design=design,
        )
    return result, errors, said


def test_replicate_leaves_a_dead_phones_configurations_incomplete(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    result, errors, _ = replicate_with_a_dying_phone(tmp_path, 4)
    failed = [o for o in result.outcomes if o.error]
    assert len(result.outcomes) == 8
    assert {o.job.device for o in failed} == {"phone-b"} and len(failed) == 3
    assert sum("incomplete" in e for e in errors) == 2
    runs = phone_of_runs(tmp_path / "r.db")
    assert all("phone-a" in p for p in runs.values()) and len(runs) == 4


def rounds_by_phone(db: Path) -> dict[str, list[tuple[int, str]]]:
    """Phone -> (round, configuration) of its measured runs, in the order they were stored."""
    import json
    import sqlite3

    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT j.facts, r.round, j.quant FROM runs r JOIN jobs j ON r.job_id = j.id"
            " WHERE r.warmup = 0 ORDER BY r.id"
        )
        out: dict[str, list[tuple[int, str]]] = {}
        for facts, round_, quant in rows:
            out.setdefault(json.loads(facts)["name"], []).append((round_, quant))
    return out


def test_interleaved_shard_gives_each_phone_a_share_it_runs_in_rounds(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    a, b = Phone("phone-a"), Phone("phone-b")
    targets = Targets(devices={"pool:X": a}, groups={"pool:X": [a, b]}, shared={"pool:X"})
    with Store.open(tmp_path / "r.db") as store:
        result = run_targets(
            runner(store),
            jobs("pool:X"),
            targets,
            print,
            design=Design(order="interleaved", seed=3),
        )
    assert not [o for o in result.outcomes if o.error]
    ran = rounds_by_phone(tmp_path / "r.db")
    assert set(ran) == {"phone-a", "phone-b"}
    for runs in ran.values():
        mine = {q for _, q in runs}
        assert len(mine) == 2  # half the pool's configurations each
        # Round after round, each holding both of its configurations once.
        assert [r for r, _ in runs] == [0, 0, 1, 1, 2, 2]
        assert all({q for r, q in runs if r == n} == mine for n in range(3))


def test_interleaved_replicate_runs_rounds_of_every_configuration_on_every_phone(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    a, b = Phone("phone-a"), Phone("phone-b")
    targets = Targets.single({"phone-a": a, "phone-b": b})
    with Store.open(tmp_path / "r.db") as store:
        result = run_targets(
            runner(store),
            jobs("phone-a") + jobs("phone-b"),
            targets,
            print,
            design=Design(order="interleaved", seed=3),
        )
    assert not [o for o in result.outcomes if o.error]
    for runs in rounds_by_phone(tmp_path / "r.db").values():
        assert [r for r, _ in runs] == [n for n in range(3) for _ in QUANTS]
        assert all({q for r, q in runs if r == n} == set(QUANTS) for n in range(3))


def test_interleaved_replicate_pool_leaves_a_dead_phones_rounds_incomplete(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    design = Design(order="interleaved", seed=3)
    result, errors, said = replicate_with_a_dying_phone(tmp_path, 5, pool=True, design=design)
    failed = [o for o in result.outcomes if o.error]
    # Every configuration of phone b was under way in its rounds: each is incomplete,
    # saying what is left and how to resume; the adb-side cause is said once.
    assert {o.job.device for o in failed} == {"phone-b"} and len(failed) == len(QUANTS)
    assert len(errors) == len(QUANTS)
    left = r"incomplete: phone-b went away with [1-3] of this configuration's 3 runs left;"
    assert all(re.match(left + " run the same command again", e) for e in errors), errors
    assert sum(s.startswith("phone-b went away (phone-b disconnected") for s in said) == 1
    # its 5 stored runs are kept; phone a measured everything
    ran = rounds_by_phone(tmp_path / "r.db")
    assert len(ran["phone-b"]) == 5 and len(ran["phone-a"]) == 3 * len(QUANTS)
