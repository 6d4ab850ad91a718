"""The SQLite results store: versioned, refuses what it cannot read, writes each run."""

from __future__ import annotations

import os
import sqlite3

import pytest

from pocketbench.core.api.errors import StoreError
from pocketbench.core.api.model import Job, Metrics, ProcessResult, RunRecord
from pocketbench.core.results.build import configurations
from pocketbench.core.results.schema import SCHEMA_VERSION
from pocketbench.core.results.store import Store


def record(i: int, warmup: bool = False, ok: bool = True) -> RunRecord:
    res = ProcessResult(
        argv=("x", "a b"), stdout=f"out {i}", stderr="err", exit_code=0 if ok else 3, wall_s=0.5
    )
    m = (
        Metrics(
            prompt_tokens=8,
            gen_tokens=16,
            prompt_tps=10.0 + i,
            generation_tps=5.0 + i,
            total_tps=6.0,
        )
        if ok
        else None
    )
    return RunRecord(index=i, warmup=warmup, result=res, metrics=m, error=None if ok else "exit 3")


def test_runs_round_trip_with_raw_output(tmp_path) -> None:
    job = Job(backend="b", quant="q", model="m")
    with Store.open(tmp_path / "r.db") as s:
        camp = s.campaign("c1")
        jid = s.start_job(job, None, {"tool": "v1"})
        s.add_run(jid, record(0, warmup=True))
        for i in range(3):
            s.add_run(jid, record(i, ok=i != 1))
        s.finish_job(jid, "done")
        assert s.completed_runs(camp, job.config_key()) == (2, 1)
    with Store.open(tmp_path / "r.db") as s:
        (cfg,) = configurations(s)
        assert cfg.describe == {"tool": "v1"}
        assert len(cfg.runs) == 3 and len(cfg.warmups) == 1
        assert cfg.samples("generation_tps") == (5.0, 7.0)
        assert cfg.records[1].result.stdout == "out 1" and cfg.records[1].error == "exit 3"
        assert cfg.records[0].result.argv == ("x", "a b")


def test_newest_campaign_wins_per_configuration(tmp_path) -> None:
    job = Job(backend="b", quant="q", model="m")
    with Store.open(tmp_path / "r.db") as s:
        for name, base in (("old", 0), ("new", 100)):
            s.campaign(name)
            jid = s.start_job(job, None, {})
            s.add_run(jid, record(base))
        (cfg,) = configurations(s)
        assert cfg.campaign == "new" and cfg.samples("generation_tps") == (105.0,)
        (old,) = configurations(s, "old")
        assert old.samples("generation_tps") == (5.0,)


def test_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "r.db"
    Store.open(path).close()
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer pocketbench"):
        Store.open(path)


def test_foreign_sqlite_and_garbage_are_refused(tmp_path) -> None:
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE t(x)")
    with pytest.raises(StoreError, match="another program"):
        Store.open(foreign)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="not a pocketbench results database"):
        Store.open(garbage)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory_is_one_clear_error(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(StoreError, match="not a writable directory"):
        Store.open(ro / "r.db")


def test_missing_directory_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(StoreError, match="not a writable directory"):
        Store.open(tmp_path / "nope" / "r.db")
    assert not (tmp_path / "nope").exists()


def test_unknown_campaign_lists_choices(tmp_path) -> None:
    with Store.open(tmp_path / "r.db") as s:
        s.campaign("alpha")
        s.start_job(Job(backend="b", quant="q", model="m"), None, {})
        with pytest.raises(Exception, match="Choose one of: alpha"):
            configurations(s, "beta")


def test_unopenable_path_is_one_clear_error() -> None:
    # /proc refuses new files even for root
    with pytest.raises(StoreError, match="choose another path for --db"):
        Store.open("/proc/pocketbench-test.db")


def test_a_campaign_without_jobs_is_not_written(tmp_path) -> None:
    with Store.open(tmp_path / "r.db") as s:
        s.campaign("empty")
        assert s.campaigns() == []


def test_a_version_1_file_is_migrated_in_place(tmp_path) -> None:  # noqa: ANN001
    """A results file written before bench import existed gains the import tables, data kept."""
    from pocketbench.core.results import schema as schema_module

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as c:
        c.executescript(schema_module._SCHEMA)
        c.execute(f"PRAGMA application_id = {schema_module.APPLICATION_ID}")
        c.execute("PRAGMA user_version = 1")
        c.execute("INSERT INTO campaigns(name, created_at) VALUES ('before', 0)")
    with Store.open(path) as s:
        assert [c["name"] for c in s.campaigns()] == ["before"]
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"imports", "summaries"} <= tables
        assert "import_id" in {r[1] for r in c.execute("PRAGMA table_info(jobs)")}
