"""Store faults: a full disk mid-run, a read-only store, --db that is not a file, old schemas.

Full disks are RLIMIT_FSIZE on the bench process (no privileges needed;
Python ignores SIGXFSZ, so writes fail with EFBIG as on a full disk).
Read-only stores are a read-only bind mount (root can write files whatever
their mode, so a mode change would prove nothing); the test is skipped where
mounting is not allowed.
"""

from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
from pathlib import Path

import pytest

from pocketbench.core.results import schema as schema_module
from pocketbench.core.results.migrations import to_claims
from pocketbench.core.results.schema import SCHEMA_VERSION
from pocketbench.core.results.store import Store
from pocketbench.testing.faults import (
    fill,
    job_rows,
    measured,
    one_error_line,
    read_only_view,
    small_fs,
)


def _limit_files(size: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_disk_full_mid_run_keeps_the_runs_before_and_says_which_was_not_stored(
    bench, tmp_path
) -> None:
    db = tmp_path / "r.db"
    first = bench.run(bench.argv(db, "before", runs=2))
    assert first.returncode == 0, first.stderr
    limit = db.stat().st_size + 48 * 1024  # a few runs fit in the WAL, then the disk is "full"
    argv = bench.argv(db, "full", runs=300)
    r = subprocess.run(argv, cwd=tmp_path, env=bench.env, capture_output=True, text=True,
                       preexec_fn=_limit_files(limit), timeout=900)  # fmt: skip
    assert r.returncode == 5, r.stderr
    line = one_error_line(r.stderr)
    assert str(db) in line and "it was not stored" in line and "run the same command again" in line
    failed_at = int(re.search(r"storing run (\d+)", line)[1])
    kept = measured(db, "full")
    assert [i for i, _ in kept] == list(range(failed_at - 1)), "a stored run was lost"
    assert len(measured(db, "before")) == 2
    assert r.stdout == ""  # no summary table: nothing is shown as measured that is not stored
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = bench.run(bench.argv(db, "full", runs=failed_at + 1))
    assert again.returncode == 0, again.stderr
    assert [i for i, _ in measured(db, "full")] == list(range(failed_at + 1))
    assert job_rows(db)[-1][0] == "done"


def test_report_output_on_a_full_disk_keeps_the_previous_report(
    run_bench, store_path, tmp_path
) -> None:
    with small_fs(tmp_path / "small") as small:
        out = small / "report.md"
        ok = run_bench("report", "--db", str(store_path), "--output", str(out))
        assert ok.returncode == 0, ok.stderr
        previous = out.read_bytes()
        fill(small, leave=len(previous) // 2)
        r = run_bench("report", "--db", str(store_path), "--output", str(out), "--title", "new")
        assert r.returncode == 2, r.stderr
        line = one_error_line(r.stderr)
        assert "cannot write --output" in line and "previous file is unchanged" in line
        assert out.read_bytes() == previous
        assert [p.name for p in small.iterdir() if p.name.startswith(".report")] == []


@pytest.mark.parametrize("kind", ["directory", "fifo", "dev-null"])
def test_bad_input_db_that_is_not_a_file_is_refused_and_nothing_is_created(
    run_bench, tmp_path, kind
) -> None:
    if kind == "directory":
        target = tmp_path / "dir"
        target.mkdir()
    elif kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
    else:
        target = Path("/dev/null")
    before = sorted(os.listdir(target.parent))
    for args in (
        ["run", "--backend", "llamacpp", "--model", "tiny"],
        ["report"],
        ["compare", "a", "b"],
    ):
        r = run_bench(*args, "--db", str(target), POCKETBENCH_LOCKS=str(tmp_path.parent / "locks"))
        assert r.returncode == 5, r.stderr
        line = one_error_line(r.stderr)
        assert str(target) in line and ("directory" in line or "not a regular file" in line)
        assert r.stdout == ""
    assert sorted(os.listdir(target.parent)) == before, "something was created next to --db"


def test_read_only_store_is_reported_and_compared_but_not_written(
    run_bench, store_path, tmp_path
) -> None:
    with read_only_view(store_path.parent, tmp_path / "ro") as ro:
        db = ro / store_path.name
        r = run_bench("report", "--db", str(db))
        assert r.returncode == 0, r.stderr
        assert "Generation Speed (tokens/second)" in r.stdout and "Traceback" not in r.stderr
        listed = run_bench("report", "--db", str(db), "--list")
        assert listed.returncode == 0 and "configuration(s)" in listed.stdout, listed.stderr
        w = run_bench("run", "--backend", "llamacpp", "--model", "tiny", "--db", str(db))
        assert w.returncode == 5 and "not writable" in one_error_line(w.stderr)
        assert not (ro / f"{store_path.name}-wal").exists()


def test_read_only_store_with_an_old_schema_says_it_needs_a_migration(
    run_bench, store_path, tmp_path
) -> None:
    _downgrade_to_before_claims(store_path)
    with read_only_view(store_path.parent, tmp_path / "ro") as ro:
        r = run_bench("report", "--db", str(ro / store_path.name))
    assert r.returncode == 5
    line = one_error_line(r.stderr)
    assert "needs a migration" in line and "write access" in line


def _downgrade_to_before_claims(db: Path) -> None:
    """The same file as the schema before claims wrote it (its columns and tables, no constraint)."""
    with sqlite3.connect(db) as c:
        c.execute("DROP INDEX runs_unique_index")
        c.execute("DROP TABLE leases")
        c.execute("DROP TABLE claims")
        # The claims step and every step after it (the columns they add) are undone.
        claims = next(v for v, step in schema_module._MIGRATIONS.items() if step is to_claims)
        later = [
            found
            for v, step in sorted(schema_module._MIGRATIONS.items())
            if v > claims and isinstance(step, str)
            for found in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", step)
        ]
        for table, column in (("jobs", "holder"), ("jobs", "heartbeat"), ("runs", "slot"), *later):
            c.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        c.execute(f"PRAGMA user_version = {claims - 1}")


def test_old_store_is_migrated_keeping_every_run_even_duplicated_indices(store_path) -> None:
    _downgrade_to_before_claims(store_path)
    with sqlite3.connect(store_path) as c:
        before = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        # What two processes on one configuration left before the claims: index 0 twice.
        c.execute(
            "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, exit_code, wall_s,"
            " timed_out, created_at) SELECT job_id, idx, 0, ok, argv, stdout, stderr, exit_code,"
            " wall_s, timed_out, created_at FROM runs WHERE warmup = 0 ORDER BY id LIMIT 1"
        )
        c.execute("UPDATE jobs SET status = 'running' WHERE id = (SELECT MIN(id) FROM jobs)")
    with Store.open(store_path) as s:
        assert s.read_only is False
    with sqlite3.connect(store_path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == before + 1
        assert c.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()[0] == 0
        first = c.execute(
            "SELECT job_id, idx, slot FROM runs WHERE warmup = 0 ORDER BY id"
        ).fetchone()
        with pytest.raises(sqlite3.IntegrityError):  # the constraint holds from now on
            c.execute(
                "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, wall_s, timed_out,"
                " created_at, slot) VALUES (?, ?, 0, 1, '[]', '', '', 0, 0, 0, ?)",
                first,
            )
