"""Interleaved rounds: a warming device biases a sequential study, not an interleaved one.

The device is :class:`~pocketbench.testing.backends.WarmingBackend`: every
run (a real child process) is 5% slower than the last, whichever scheme ran,
and the true ratio of the two schemes' generation speeds is exactly 2.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pocketbench.core.analysis.findings import build_findings
from pocketbench.core.analysis.study import load_study
from pocketbench.core.analysis.study_run import run_study
from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.rounds import round_order
from pocketbench.core.results.findings import Conclusion, Findings
from pocketbench.core.results.store import Store
from pocketbench.reporters.findings import render_findings
from pocketbench.testing.backends import FakeBackend, WarmingBackend, registry_with
from pocketbench.testing.cli import run_bench

STUDY = """
name = "warming"
models = ["tiny"]
runs = 8
warmup = 1
{extra}

[workload]
prompt_tokens = 16
gen_tokens = 8
threads = 1

[[framework]]
backend = "warming"
quants = ["fast", "slow"]
"""

#: generation: fast is exactly 2x slow; prompt: no difference to find.
SPEEDS = {"slow": (200.0, 50.0), "fast": (200.0, 100.0)}


@pytest.fixture(autouse=True)
def _own_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local device's lock is host-wide: another bench on this host must not stall the test.
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))


def _study(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "warming.toml"
    path.write_text(STUDY.format(extra=extra), encoding="utf-8")
    return path


def _measure(tmp_path: Path, extra: str) -> tuple[Findings, WarmingBackend, Path]:
    backend = WarmingBackend(schemes=SPEEDS, slowdown_pct=5.0)
    db = tmp_path / "results.db"
    with Store.open(db) as store:
        result = run_study(
            _study(tmp_path, extra),
            registry=registry_with(backend),
            store=store,
            devices={"local": LocalDevice()},
        )
        assert not result.errors and result.failed_runs == 0
        findings = build_findings(result.study, result.configs, store, result.campaign)
    return findings, backend, db


def _conclusion(findings: Findings, metric: str) -> Conclusion:
    return next(c for s in findings.sections for c in s.conclusions if c.metric == metric)


def test_sequential_order_biases_the_ratio_beyond_its_interval(tmp_path: Path) -> None:
    findings, backend, _ = _measure(tmp_path, 'order = "sequential"')
    gen = _conclusion(findings, "generation_tps")
    low, high = gen.ratio.ci
    assert not low <= backend.true_ratio("fast", "slow") <= high  # confidently wrong
    assert gen.ratio.estimate > 2.2
    # And a prompt difference that does not exist, "significant".
    assert _conclusion(findings, "prompt_tps").significant
    md = render_findings(findings, "markdown")
    assert "Order: sequential" in md
    assert "likely throttling: the device slowed" in md
    assert "the comparisons carry that bias" in md


def test_interleaved_order_recovers_the_true_ratio_within_its_interval(tmp_path: Path) -> None:
    findings, backend, db = _measure(tmp_path, "seed = 7")
    gen = _conclusion(findings, "generation_tps")
    low, high = gen.ratio.ci
    assert low <= backend.true_ratio("fast", "slow") <= high
    assert high / low < 1.2  # an interval that still says something
    assert not _conclusion(findings, "prompt_tps").significant
    md = render_findings(findings, "markdown")
    assert "Order: interleaved rounds, seed 7" in md
    # The drift model sees the 5% per run across both configurations.
    drift = next(line for line in findings.statistics if line.startswith("Drift on local"))
    assert "slowed 4." in drift or "slowed 5." in drift
    # Every round ran both schemes, in the order its seed gives; nothing ran twice.
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT r.round, r.position, j.quant FROM runs r JOIN jobs j ON r.job_id = j.id"
            " WHERE r.warmup = 0 ORDER BY r.id"
        ).fetchall()
    assert len(rows) == 16 and len(set(rows)) == 16
    for n in range(8):
        ran = [q for r, _, q in rows if r == n]
        expected = [["fast", "slow"][i] for i in round_order(7, "local", n, 2)]
        assert ran == expected
    # What a user reads back: each run's round and position, in JSON and CSV.
    data = json.loads(run_bench("report", "--db", str(db), "-f", "json", cwd=tmp_path).stdout)
    stored = {(r, p) for r, p, _ in rows}
    for config in data["configurations"]:
        measured = [(r["round"], r["position"]) for r in config["runs"]]
        assert len(measured) == 8 and set(measured) <= stored
    csv = run_bench("report", "--db", str(db), "-f", "csv", cwd=tmp_path).stdout.splitlines()
    header = csv[0].split(",")
    assert {"round", "position"} <= set(header)
    rounds = [line.split(",")[header.index("round")] for line in csv[1:]]
    assert sorted(rounds) == sorted(["", ""] + [str(n) for n in range(8)] * 2)  # warm-ups: none
    # Each configuration's one warm-up comes just before its first measured run.
    with sqlite3.connect(db) as c:
        ids = c.execute(
            "SELECT j.quant, r.warmup, r.id FROM runs r JOIN jobs j ON r.job_id = j.id ORDER BY r.id"
        ).fetchall()
    for quant in ("fast", "slow"):
        mine = [(w, i) for q, w, i in ids if q == quant]
        assert [w for w, _ in mine] == [1] + [0] * 8
        assert mine[1][1] == mine[0][1] + 1


def test_a_killed_study_resumes_at_the_next_unfinished_round_with_its_seed(
    tmp_path: Path,
) -> None:
    """A run failing with a device error mid-round stops the study; the rerun completes it."""
    from pocketbench.core.api.errors import DeviceError

    class Dying(WarmingBackend):
        def __init__(self) -> None:
            super().__init__(schemes=SPEEDS, slowdown_pct=0.0)

        @hookimpl
        def pocketbench_run(self, job, device, prepared, index):  # type: ignore[no-untyped-def]
            if len(self.runs) == 7:  # in round 2 (1 warm-up each, then 2 per round)
                raise DeviceError("the phone went away")
            return super().pocketbench_run(job, device, prepared, index)

    dying = Dying()
    db = tmp_path / "results.db"
    study = _study(tmp_path)
    with Store.open(db) as store:
        first = run_study(
            study, registry=registry_with(dying), store=store, devices={"local": LocalDevice()}
        )
    assert first.errors and first.design is not None
    with sqlite3.connect(db) as c:
        before = c.execute("SELECT round, position FROM runs WHERE warmup = 0").fetchall()
    again = WarmingBackend(schemes=SPEEDS, slowdown_pct=0.0)
    with Store.open(db) as store:
        second = run_study(
            study, registry=registry_with(again), store=store, devices={"local": LocalDevice()}
        )
        assert second.design == first.design and not second.errors
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT r.round, r.position, j.quant FROM runs r JOIN jobs j ON r.job_id = j.id"
            " WHERE r.warmup = 0 ORDER BY r.id"
        ).fetchall()
    assert len(rows) == 16 and len({(r, q) for r, _, q in rows}) == 16
    assert [(r, p) for r, p, _ in rows[: len(before)]] == before
    # The rerun began in the unfinished round, in its seeded order.
    seed = first.design.seed
    for n in range(8):
        ran = [q for r, _, q in rows if r == n]
        assert ran == [["fast", "slow"][i] for i in round_order(seed, "local", n, 2)]
    # The measured count of the rerun: what was missing, and no more.
    assert sum(1 for q, _ in again.runs) == 16 - len(before) + 2  # + one warm-up each


def test_a_resumed_campaign_keeps_its_order_unless_forced(tmp_path: Path) -> None:
    backend = FakeBackend("warming", SPEEDS)
    db = tmp_path / "results.db"
    study = _study(tmp_path, 'order = "sequential"')
    text = study.read_text()
    said: list[str] = []

    def run(runs: int, **kw: object) -> None:
        study.write_text(text.replace("runs = 8", f"runs = {runs}"), encoding="utf-8")
        run_study(
            study,
            registry=registry_with(backend),
            store=store,
            devices={"local": LocalDevice()},
            echo=said.append,
            **kw,  # type: ignore[arg-type]
        )

    def rounds() -> list[int | None]:
        with sqlite3.connect(db) as c:
            return [r for (r,) in c.execute("SELECT round FROM runs WHERE warmup = 0 ORDER BY id")]

    with Store.open(db) as store:
        run(2)
        # The file now says interleaved: the campaign goes on as it began, and says so.
        text = text.replace('order = "sequential"', "")
        run(3)
        assert any("was begun in sequential order; it continues so" in s for s in said)
        assert rounds() == [None] * 6
        with pytest.raises(UsageError, match="was run in sequential order.*--force"):
            run(4, order="interleaved")
        assert rounds() == [None] * 6  # refused before anything ran
        run(4, order="interleaved", force=True)
        stored = json.loads(store.campaign_design("warming") or "{}")
    assert rounds() == [None] * 6 + [0, 0]  # the forced runs are interleaved
    assert stored["order"] == "sequential"


def test_an_unknown_order_is_one_line_naming_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="choose one of: interleaved, sequential"):
        load_study(_study(tmp_path, 'order = "random"'))
    done = run_bench("study", str(_study(tmp_path)), "--order", "shuffled", cwd=tmp_path)
    assert done.returncode == 2
    assert "--order: unknown order 'shuffled'; choose one of: interleaved, sequential" in (
        done.stderr
    )
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pocketbench.db").exists()


def test_round_order_is_a_permutation_fixed_by_seed_device_and_round() -> None:
    orders = {tuple(round_order(3, "local", r, 5)) for r in range(20)}
    assert all(sorted(o) == list(range(5)) for o in orders) and len(orders) > 5
    assert round_order(3, "local", 4, 5) == round_order(3, "local", 4, 5)
    assert round_order(3, "local", 4, 5) != round_order(4, "local", 4, 5) or (
        round_order(3, "local", 5, 5) != round_order(4, "local", 5, 5)
    )


def test_target_ci_adds_whole_rounds_up_to_max_runs(tmp_path: Path) -> None:
    from pocketbench.core.engine.runner import ci_stop_rule

    backend = FakeBackend("warming", SPEEDS)  # 2% jitter: a 1% interval needs ~18 runs
    db = tmp_path / "results.db"
    study = _study(tmp_path)
    study.write_text(study.read_text().replace("runs = 8", "runs = 3"), encoding="utf-8")
    with Store.open(db) as store:
        result = run_study(
            study,
            registry=registry_with(backend),
            store=store,
            devices={"local": LocalDevice()},
            stop_rule=ci_stop_rule(1.0),
            max_runs=6,
        )
    assert not result.errors
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT j.quant, r.round FROM runs r JOIN jobs j ON r.job_id = j.id WHERE r.warmup = 0"
        ).fetchall()
    assert sorted(rows) == sorted((q, n) for q in ("fast", "slow") for n in range(6))


def test_warmup_per_round_warms_every_measured_run_after_a_switch(tmp_path: Path) -> None:
    backend = FakeBackend("warming", SPEEDS)
    db = tmp_path / "results.db"
    study = _study(tmp_path, "warmup_per_round = true")
    study.write_text(study.read_text().replace("runs = 8", "runs = 3"), encoding="utf-8")
    with Store.open(db) as store:
        run_study(
            study, registry=registry_with(backend), store=store, devices={"local": LocalDevice()}
        )
    with sqlite3.connect(db) as c:
        rows = c.execute(
            "SELECT j.quant, r.warmup FROM runs r JOIN jobs j ON r.job_id = j.id ORDER BY r.id"
        ).fetchall()
    # Each measured run right after a warm-up of its own configuration, 3 rounds of 2.
    assert rows == [pair for q, w in rows[::2] for pair in ((q, 1), (q, 0))]
    assert len(rows) == 12
