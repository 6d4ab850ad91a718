"""The third hostile round on running and reading: the store moved or deleted mid-run, a job
merged while it ran, options that must be answered at once, the environment and the clock.

The runs are real processes (the ``hold`` backend of this suite, see conftest).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from pocketbench.testing.faults import one_error_line, read_only_view


def _while_held(bench, db: Path, campaign: str, runs: int, action) -> tuple[int, str]:
    """Start bench, do ``action()`` once run 0 is stored and run 1 holds, let it end."""
    from pocketbench.testing.cli import wait_for_runs

    proc = bench.start(bench.argv(db, campaign, runs=runs), hold=True)
    try:
        assert wait_for_runs(db, 1) >= 1, "the first run was not stored"
        bench.held_runtime()
        action()
        bench.release()
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


# -- item 6: the store moved or deleted while bench writes it ---------------------------------


def test_store_moved_mid_run_stops_with_exit_5_naming_the_new_place(bench, tmp_path) -> None:
    db, moved = tmp_path / "r.db", tmp_path / "elsewhere.db"
    code, err = _while_held(bench, db, "moved", 3, lambda: os.rename(db, moved))
    assert code == 5, err
    line = one_error_line(err)
    assert "moved to" in line and str(moved) in line
    with sqlite3.connect(moved) as c:
        stored = c.execute("SELECT COUNT(*) FROM runs WHERE warmup = 0").fetchone()[0]
    assert stored == 2  # run 0, and the run that was being stored when it moved
    assert not db.exists()


def test_store_deleted_mid_run_stops_with_exit_5_and_rescues_the_runs(bench, tmp_path) -> None:
    db = tmp_path / "r.db"

    def delete() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)

    code, err = _while_held(bench, db, "deleted", 3, delete)
    assert code == 5, err
    line = one_error_line(err)
    assert "was deleted" in line
    rescued = db.with_name("r.db.rescued")
    assert str(rescued) in line
    with sqlite3.connect(rescued) as c:
        assert c.execute("SELECT idx FROM runs WHERE warmup = 0").fetchall() == [(0,)]


# -- item 9: a job merged while it ran, merged again after ------------------------------------------


def test_a_job_merged_while_running_is_done_after_the_next_merge(bench, tmp_path) -> None:
    from pocketbench.testing.cli import run_bench

    db = tmp_path / "r.db"

    def merge() -> None:
        first = run_bench("merge", "out.db", str(db), cwd=tmp_path)
        assert first.returncode == 0, first.stderr

    code, err = _while_held(bench, db, "live", 2, merge)
    assert code == 0, err
    again = run_bench("merge", "out.db", str(db), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(tmp_path / "out.db") as c:
        assert c.execute("SELECT status FROM jobs").fetchall() == [("done",)]
        assert c.execute("SELECT COUNT(*) FROM runs WHERE warmup = 0").fetchone()[0] == 2
    listed = run_bench("report", "--db", "out.db", "--list", cwd=tmp_path)
    assert "interrupted" not in listed.stdout


# -- item 7: answered at once --------------------------------------------------------------------


def test_a_huge_core_range_is_refused_before_it_is_expanded(run_bench) -> None:
    # Expanding this range takes minutes and gigabytes; the check looks at the digits.
    r = run_bench("--backend", "llamacpp", "--model", "tiny", "--cores", "0-99999999999",
                  timeout=120)  # fmt: skip
    assert r.returncode == 2
    assert "core 99999999999 does not exist" in one_error_line(r.stderr)


# -- item 8: the environment ---------------------------------------------------------------


def test_cache_and_lock_settings_that_cannot_hold_files_are_one_line(run_bench, tmp_path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    ro_source = tmp_path / "cache-src"
    ro_source.mkdir()
    argv = ("--backend", "llamacpp", "--model", "tiny", "--runs", "1", "--db", "r.db")
    r = run_bench(*argv, POCKETBENCH_CACHE=str(a_file))
    assert r.returncode == 3, r.stderr
    assert "POCKETBENCH_CACHE" in one_error_line(r.stderr)
    r = run_bench(*argv, POCKETBENCH_LOCKS=str(a_file))
    assert r.returncode == 3, r.stderr
    assert "POCKETBENCH_LOCKS" in one_error_line(r.stderr)
    with read_only_view(ro_source, tmp_path / "ro") as ro:
        r = run_bench(*argv, POCKETBENCH_CACHE=str(ro))
    assert r.returncode == 3, r.stderr
    assert "POCKETBENCH_CACHE" in one_error_line(r.stderr)


# -- item 10: compare and report ------------------------------------------------------------


def test_compare_threshold_nan_is_refused(run_bench, store_path) -> None:
    r = run_bench("compare", "a", "b", "--db", str(store_path), "--threshold", "nan")
    assert r.returncode == 2
    assert "--threshold" in one_error_line(r.stderr)


def test_a_campaign_dated_in_the_future_does_not_hide_later_ones(run_bench, store_path) -> None:
    with sqlite3.connect(store_path) as c:
        names = [n for (n,) in c.execute("SELECT name FROM campaigns ORDER BY created_at")]
        # The older campaign's clock was decades ahead; the newer one is today's.
        c.execute(
            "UPDATE campaigns SET created_at = ? WHERE name = ?", (time.time() + 3e9, names[0])
        )
    r = run_bench("report", "--db", str(store_path), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert f"campaign {names[0]!r} is dated" in r.stderr and "in the future" in r.stderr
    # Both campaigns measured llama.cpp on tiny: the report shows the later measurement.
    shown = {
        c["quant"]: c["campaign"]
        for c in json.loads(r.stdout)["configurations"]
        if c["backend"] == "llamacpp" and c["model"] == "tiny"
    }
    assert shown == {"q4_0": names[-1], "q8_0": names[-1]}


def test_html_report_prints_no_matplotlib_warning(run_bench, store_path, tmp_path) -> None:
    # A home matplotlib cannot keep its configuration in (a service account's).
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    r = run_bench(
        "report", "--db", str(store_path), "--format", "html", "-o", "r.html", HOME=str(home)
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == ["wrote r.html"], r.stderr


def test_report_of_a_sharded_pool_has_the_per_phone_breakdown(run_bench, tmp_path) -> None:
    from pocketbench.core.results.store import Store
    from pocketbench.testing.fabricated import add_config

    db = tmp_path / "pool.db"
    with Store.open(db) as store:
        store.campaign("pool")
        # shard: each configuration ran on one phone of the pool
        add_config(store, backend="llamacpp", quant="q4_0", model="tiny",
                   device="R58W1", gens=[11.0, 11.2, 11.1])  # fmt: skip
        add_config(store, backend="llamacpp", quant="q8_0", model="tiny",
                   device="R58W2", gens=[9.0, 9.1, 9.2])  # fmt: skip
    for fmt, heading in (("markdown", "# Per phone"), ("latex", r"\section*{Per phone}")):
        r = run_bench("report", "--db", str(db), "--format", fmt)
        assert r.returncode == 0, r.stderr
        assert heading in r.stdout
        section = r.stdout.split(heading, 1)[1].replace(r"\allowbreak{}", "")
        assert "R58W1" in section and "R58W2" in section and "11.10" in section


SHORT_CONTEXT = """
from pocketbench.plugin import hookimpl
from pocketbench.testing.backends import FakeBackend

class Short(FakeBackend):
    @hookimpl
    def pocketbench_prepare(self, job, device):
        prepared = super().pocketbench_prepare(job, device)
        prepared.describe["max_seq_len"] = "64"  # as an ExecuTorch export says it
        return prepared

backend = Short("short")
"""


def test_a_quality_window_the_model_cannot_take_is_refused_before_the_speed_runs(
    run_bench, tmp_path
) -> None:
    site = tmp_path / "site"
    info = site / "pocketbench_short-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pocketbench-short\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pocketbench.backends]\nshort = pocketbench_short:backend\n"
    )
    (site / "pocketbench_short.py").write_text(SHORT_CONTEXT)
    (tmp_path / "text.txt").write_text("The quick brown fox jumps over the lazy dog. " * 400)
    r = run_bench(
        "--backend", "short", "--quant", "baseline", "--model", "smollm2-135m", "--runs", "2",
        "--warmup", "0", "--cooldown", "off", "--db", "r.db", "--quality", "--eval-text",
        "text.txt", "--quality-ctx", "128", "--quality-chunks", "4",
        paths=(site,), POCKETBENCH_LOCKS=str(tmp_path / "locks"),
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "max_seq_len 64" in one_error_line(r.stderr)
    stored = 0
    if (tmp_path / "r.db").exists():
        with sqlite3.connect(tmp_path / "r.db") as c:
            stored = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert stored == 0
