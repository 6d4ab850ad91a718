"""The third hostile round on ``bench import`` and ``bench merge``: one measurement is stored
once, an import accepts nothing a run would refuse, and the README's workflow merges.

Every case runs the real console script on the backends' test files (or
copies of them changed the way a user's files are: re-serialised, CRLF,
renamed, UTF-16, contradicting themselves).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from pocketbench.testing.faults import one_error_line, read_only_view, small_fs

TESTS = Path(__file__).resolve().parent.parent
LLAMA = TESTS / "backends" / "llamacpp" / "data" / "import"
ET = TESTS / "backends" / "executorch" / "data" / "import"
BENCH_JSON = LLAMA / "bench_tiny_q4_0_p32_g16_d0-32.json"
LLAMA_MAIN = ET / "llama_main_v1_stats_then_observer.txt"


def _runs(db: Path) -> int:
    # Closed at once: a connection left to the garbage collector keeps a mount busy.
    with contextlib.closing(sqlite3.connect(db)) as c:
        return c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]


def _campaigns(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return [n for (n,) in c.execute("SELECT name FROM campaigns ORDER BY id")]


def _variant(tmp_path: Path, name: str, scale: float, **change: object) -> Path:
    """A llama-bench JSON of the same configurations measured again (rates scaled)."""
    rows = json.loads(BENCH_JSON.read_text())
    for r in rows:
        r["samples_ns"] = [round(ns * scale) for ns in r["samples_ns"]]
        r["samples_ts"] = [ts / scale for ts in r["samples_ts"]]
        r["avg_ns"], r["avg_ts"] = round(r["avg_ns"] * scale), r["avg_ts"] / scale
        r["test_time"] = f"2026-12-0{int(scale * 2) % 9 + 1}T10:00:00Z"
        r.update(change)
    path = tmp_path / name
    path.write_text(json.dumps(rows, indent=2))
    return path


# -- item 2: a campaign of several imports merges -----------------------------------------


def test_merge_of_a_campaign_built_from_several_imports(run_bench, tmp_path) -> None:
    files = [str(_variant(tmp_path, f"run{i}.json", 1 + i / 10)) for i in range(3)]
    r = run_bench("import", *files, "--campaign", "a25")
    assert r.returncode == 0, r.stderr
    stored = _runs(tmp_path / "pocketbench.db")
    assert stored == 3 * 6
    r = run_bench("merge", "out.db", "pocketbench.db")
    assert r.returncode == 0, r.stderr
    assert f"{stored} runs added" in r.stdout
    again = run_bench("merge", "out.db", "pocketbench.db")
    assert again.returncode == 0 and "0 runs added" in again.stdout
    assert _runs(tmp_path / "out.db") == stored
    assert run_bench("report", "--db", "out.db").returncode == 0


# -- item 3: one measurement is stored once -----------------------------------------------


def test_a_reserialised_llama_bench_json_is_not_imported_twice(run_bench, tmp_path) -> None:
    first = run_bench("import", str(BENCH_JSON))
    assert first.returncode == 0, first.stderr
    compact = tmp_path / "same-results.json"
    compact.write_text(json.dumps(json.loads(BENCH_JSON.read_text()), separators=(",", ":")))
    again = run_bench("import", str(compact))
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stderr
    assert _runs(tmp_path / "pocketbench.db") == 6


def test_a_crlf_copy_of_a_log_is_not_imported_twice(run_bench, tmp_path) -> None:
    assert run_bench("import", str(LLAMA_MAIN)).returncode == 0
    crlf = tmp_path / "copy.txt"
    crlf.write_bytes(LLAMA_MAIN.read_bytes().replace(b"\n", b"\r\n"))
    again = run_bench("import", str(crlf))
    assert again.returncode == 0, again.stderr
    assert "already imported" in again.stderr
    assert _runs(tmp_path / "pocketbench.db") == 1


def test_merging_a_renamed_copy_of_a_merged_store_adds_nothing(run_bench, tmp_path) -> None:
    # Two campaigns named x that measured different things (2 and 4 threads).
    for name, threads in (("a", 2), ("b", 4)):
        r = run_bench(
            "import", str(_variant(tmp_path, f"{name}.json", threads / 2, n_threads=threads)),
            "--campaign", "x", "--db", f"{name}.db",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    assert run_bench("merge", "out.db", "a.db").returncode == 0
    conflict = run_bench("merge", "out.db", "b.db")
    assert conflict.returncode == 0 and "merged as 'x@b'" in conflict.stderr
    shutil.copyfile(tmp_path / "b.db", tmp_path / "b-copy.db")
    before = (_runs(tmp_path / "out.db"), _campaigns(tmp_path / "out.db"))
    r = run_bench("merge", "out.db", "b-copy.db")
    assert r.returncode == 0, r.stderr
    assert "0 runs added" in r.stdout
    assert (_runs(tmp_path / "out.db"), _campaigns(tmp_path / "out.db")) == before


def test_stores_that_imported_one_file_merge_without_duplicates(run_bench, tmp_path) -> None:
    for db in ("one.db", "two.db"):
        assert run_bench("import", str(BENCH_JSON), "--db", db).returncode == 0
    assert run_bench("merge", "out.db", "one.db", "two.db").returncode == 0
    assert _runs(tmp_path / "out.db") == 6


# -- item 4: import checks what a run checks ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--campaign", "a\nb"),
        ("--campaign", "x" * 5000),
        ("--device-label", "phone\x1b[31m"),
    ],
)
def test_import_names_are_checked_like_bench_run(run_bench, tmp_path, args) -> None:
    r = run_bench("import", str(BENCH_JSON), *args)
    assert r.returncode == 2
    assert args[0] in one_error_line(r.stderr)
    assert not (tmp_path / "pocketbench.db").exists() or _runs(tmp_path / "pocketbench.db") == 0


def test_import_token_counts_beyond_bench_runs_limits_are_refused(run_bench, tmp_path) -> None:
    huge = _variant(tmp_path, "huge.json", 1.0, n_prompt=10**30)
    r = run_bench("import", str(huge))
    assert r.returncode == 2
    assert "impossible" in one_error_line(r.stderr)
    hint = run_bench(
        "import", str(ET / "benchmark_results_2024-11.json"), "--prompt-tokens",
        "99999999999999999999", "--gen-tokens", "128", "--threads", "4",
    )  # fmt: skip
    assert hint.returncode == 2
    assert "prompt tokens" in one_error_line(hint.stderr)


def test_a_rate_contradicting_its_own_durations_is_not_a_valid_run(run_bench, tmp_path) -> None:
    rows = json.loads(BENCH_JSON.read_text())
    rows[0]["samples_ts"][0] = 1e308
    path = tmp_path / "lying.json"
    path.write_text(json.dumps(rows))
    r = run_bench("import", str(path))
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(tmp_path / "pocketbench.db") as c:
        bad = c.execute("SELECT ok, error FROM runs WHERE error IS NOT NULL").fetchall()
    assert len(bad) == 1 and bad[0][0] == 0 and "contradicts its samples_ns" in bad[0][1]


def test_a_llama_main_log_whose_observer_contradicts_its_stats_is_refused(
    run_bench, tmp_path
) -> None:
    text = LLAMA_MAIN.read_text()
    lying = text.replace('"inference_end_ms":1717171721251', '"inference_end_ms":1717171812331')
    assert lying != text
    path = tmp_path / "lying.txt"
    path.write_text(lying)
    r = run_bench("import", str(path))
    assert r.returncode == 2
    assert "contradicts itself" in one_error_line(r.stderr)


# -- item 8: no traceback from the disk or a log ------------------------------------------------


def test_a_scaling_factor_of_zero_is_one_line(run_bench, tmp_path) -> None:
    text = LLAMA_MAIN.read_text().replace(
        '"SCALING_FACTOR_UNITS_PER_SECOND":1000', '"SCALING_FACTOR_UNITS_PER_SECOND":0'
    )
    path = tmp_path / "zero.txt"
    path.write_text(text)
    r = run_bench("import", str(path))
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert "SCALING_FACTOR" in line and "ZeroDivisionError" not in r.stderr


def test_import_into_a_store_on_a_full_disk_is_one_line(run_bench, tmp_path) -> None:
    with small_fs(tmp_path / "small", size="1m") as small:
        db = small / "r.db"
        assert run_bench("import", str(LLAMA_MAIN), "--db", str(db)).returncode == 0
        big = tmp_path / "big.json"
        rows = json.loads(BENCH_JSON.read_text())
        for row in rows:
            row["cpu_info"] = "x" * 500_000  # the file is more than the disk can take
        big.write_text(json.dumps(rows))
        r = run_bench("import", str(big), "--db", str(db))
        assert r.returncode == 5, r.stderr
        assert str(db) in one_error_line(r.stderr)
        assert _runs(db) == 1


# -- item 9: merge --------------------------------------------------------------------------------


def test_a_source_on_a_read_only_mount_merges_with_the_runs_its_log_holds(
    run_bench, tmp_path
) -> None:
    live, copy = tmp_path / "live", tmp_path / "copy"
    live.mkdir()
    copy.mkdir()
    db = live / "r.db"
    assert run_bench("import", str(LLAMA_MAIN), "--db", str(db)).returncode == 0
    # A reader's open snapshot keeps the next import's runs in the write-ahead
    # log; the store is copied then, as a backup of a store in use is: the
    # file and its -wal, no -shm.
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM runs").fetchone()
        assert run_bench("import", str(BENCH_JSON), "--db", str(db)).returncode == 0
        for name in ("r.db", "r.db-wal"):
            shutil.copyfile(live / name, copy / name)
        reader.execute("COMMIT")
    assert (copy / "r.db-wal").stat().st_size > 0
    with read_only_view(copy, tmp_path / "ro") as ro:
        r = run_bench("merge", "out.db", str(ro / "r.db"))
    assert r.returncode == 0, r.stderr
    assert _runs(tmp_path / "out.db") == 1 + 6


def test_merge_advice_names_merges_own_arguments(run_bench, tmp_path) -> None:
    assert run_bench("import", str(BENCH_JSON), "--db", "r.db").returncode == 0
    (tmp_path / "sqlite.db").write_bytes(b"SQLite format 3\x00" + bytes(4096))
    r = run_bench("merge", "sqlite.db", "r.db")
    assert r.returncode == 5
    line = one_error_line(r.stderr)
    assert "--db" not in line and "OUT" in line


# -- item 10: encodings and old formats -------------------------------------------------------------


def test_llama_bench_sql_from_before_2025_is_imported(run_bench, tmp_path) -> None:
    old = tmp_path / "old.sql"
    text = (LLAMA / "bench_tiny_q4_0_p32_g16_d0-32.sql").read_text()
    old.write_text(text.replace("llama_bench", "test"))
    r = run_bench("import", str(old))
    assert r.returncode == 0, r.stderr
    assert "llama-bench sql: 2 configurations" in r.stderr


def test_a_utf16_log_is_read(run_bench, tmp_path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes(LLAMA_MAIN.read_text().encode("utf-16"))
    r = run_bench("import", str(path))
    assert r.returncode == 0, r.stderr
    assert _runs(tmp_path / "pocketbench.db") == 1


def test_a_utf16_log_without_a_byte_order_mark_names_the_encoding(run_bench, tmp_path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes(LLAMA_MAIN.read_text().encode("utf-16-le"))
    r = run_bench("import", str(path))
    assert r.returncode == 2
    assert "UTF-16" in one_error_line(r.stderr)
