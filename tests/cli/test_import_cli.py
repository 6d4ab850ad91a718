"""``bench import`` as a user types it: every format through the real console script.

The files are the backends' test files (tests/llamacpp/data/import,
tests/executorch_backend/data/import); what is stored is checked against
what the file itself holds.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store

TESTS = Path(__file__).resolve().parent.parent
LLAMA = TESTS / "backends" / "llamacpp" / "data" / "import"
ET = TESTS / "backends" / "executorch" / "data" / "import"
CAPTURED = LLAMA / "bench_tiny_q4_0_p32_g16_d0-32"


def counts(db: Path) -> tuple[int, ...]:
    with sqlite3.connect(db) as c:
        return tuple(
            c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("campaigns", "jobs", "runs", "imports", "summaries")
        )


def stored(db: Path, campaign: str | None = None) -> list:
    with Store.open(db, create=False) as s:
        return configurations(s, campaign)


def only_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_llama_bench_samples_become_runs(run_bench, tmp_path: Path, fmt: str) -> None:
    r = run_bench("import", str(CAPTURED.with_suffix(f".{fmt}")), "--device-label", "my laptop")
    assert r.returncode == 0, r.stderr
    assert f"llama-bench {fmt}: 2 configurations, 6 runs" in r.stderr
    text = CAPTURED.with_suffix(f".{fmt}").read_text()
    rows = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
    configs = stored(tmp_path / "pocketbench.db")
    assert len(configs) == 2
    for c in configs:
        depth = int(c.describe["tests"].endswith("@ d32") and 32)
        pp = next(x for x in rows if x["n_prompt"] and x["n_depth"] == depth)
        assert list(c.samples("prompt_tps")) == pp["samples_ts"]
        assert c.device == "my laptop" and c.facts.soc == pp["cpu_info"]
        assert c.imported is not None and c.imported["format"] == f"llama-bench {fmt}"
        assert c.describe["warmup"].startswith("unknown") and not c.warmups
        assert c.describe["source_sha256"] == c.imported["sha256"]
        # The raw text is kept: the run's own rows, and the whole file with the import.
        assert all(line in text for r in c.records for line in r.result.stdout.splitlines())
        assert all('"samples_ts"' in r.result.stdout for r in c.records)
    with sqlite3.connect(tmp_path / "pocketbench.db") as conn:
        (raw,) = conn.execute("SELECT raw FROM imports").fetchone()
    assert raw == text


@pytest.mark.parametrize("fmt", ["md", "csv", "sql"])
def test_llama_bench_summaries_are_stored_as_summaries(run_bench, tmp_path: Path, fmt: str) -> None:
    r = run_bench("import", str(CAPTURED.with_suffix(f".{fmt}")), "--campaign", "laptop")
    assert r.returncode == 0, r.stderr
    configs = stored(tmp_path / "pocketbench.db", "laptop")
    assert len(configs) == 2 and all(not c.records for c in configs)
    assert sorted(m for c in configs for m in c.summaries) == [
        "generation_tps", "generation_tps", "prompt_tps", "prompt_tps",
    ]  # fmt: skip
    report = run_bench("report", "--campaign", "laptop")
    assert report.returncode == 0, report.stderr
    text = CAPTURED.with_suffix(f".{fmt}").read_text()
    assert "unknown (imported mean ± sd)" in report.stdout  # not "0 runs", not invented ones
    for c in configs:
        for s in c.summaries.values():
            assert s.samples == () and s.n == 0  # no invented runs; n not in the file
            assert f"{s.mean:.2f} ± {s.stdev:.2f}" in report.stdout
            assert f"{s.mean:.2f}" in text or f"{s.mean:f}" in text


@pytest.mark.parametrize(
    ("path", "fmt", "runs", "extra"),
    [
        (LLAMA / "completion_three_runs.stderr", "llama.cpp log", 3, ()),
        (LLAMA / "timings_2023-11_de_DE_decimal_comma.txt", "llama.cpp log", 1, ()),
        (LLAMA / "simple_2025_galaxy_a25.txt", "llama.cpp log", 1, ("--threads", "4")),
        (ET / "llama_main_v1_stats_then_observer.txt", "llama_main log", 1, ()),
        (ET / "runner_three_runs.txt", "llama_main log", 3, ("--threads", "2")),
        (
            ET / "benchmark_results_2024-11.json",
            "ExecuTorch benchmark app JSON",
            1,
            ("--prompt-tokens", "64", "--gen-tokens", "128", "--threads", "4"),
        ),
    ],
)
def test_logs_and_app_json(
    run_bench, tmp_path: Path, path: Path, fmt: str, runs: int, extra
) -> None:
    r = run_bench("import", str(path), *extra)
    assert r.returncode == 0, r.stderr
    assert f"{fmt}: 1 configuration, {runs} run" in r.stderr
    (c,) = stored(tmp_path / "pocketbench.db")
    assert len(c.ok_runs) == runs
    assert all(r.metrics.generation_tps > 0 for r in c.ok_runs)


def test_app_json_without_a_workload_asks_for_it(run_bench, tmp_path: Path) -> None:
    path = ET / "benchmark_results_2024-11.json"
    r = run_bench("import", str(path))
    assert r.returncode == 2
    line = only_line(r.stderr)
    assert f"{path}:1:" in line and "pass --prompt-tokens" in line
    assert not (tmp_path / "pocketbench.db").exists() or counts(tmp_path / "pocketbench.db")[2] == 0


def test_a_flag_that_contradicts_the_file_is_refused(run_bench, tmp_path: Path) -> None:
    path = LLAMA / "completion_three_runs.stderr"
    r = run_bench("import", str(path), "--gen-tokens", "32")
    assert r.returncode == 2
    line = only_line(r.stderr)
    assert "the file says gen tokens = 64, --gen-tokens says 32" in line and str(path) in line


def test_importing_twice_adds_nothing(run_bench, tmp_path: Path) -> None:
    db = tmp_path / "pocketbench.db"
    assert run_bench("import", str(CAPTURED.with_suffix(".json"))).returncode == 0
    before = counts(db)
    again = run_bench("import", str(CAPTURED.with_suffix(".json")), "--campaign", "other")
    assert again.returncode == 0 and "already imported" in again.stderr
    assert counts(db) == before


def test_an_impossible_sample_is_kept_as_a_failed_run(run_bench, tmp_path: Path) -> None:
    r = run_bench("import", str(LLAMA / "bench_negative_sample.json"))
    assert r.returncode == 0 and "1 with impossible values" in r.stderr
    (c,) = stored(tmp_path / "pocketbench.db")
    assert len(c.ok_runs) == 4 and all(x > 0 for x in c.samples("prompt_tps"))
    report = run_bench("report")
    assert "samples_ts[1] of pp64 = -56.1464 is impossible" in report.stdout.replace("\\", "")


@pytest.mark.parametrize(
    ("path", "line", "message"),
    [
        (LLAMA / "unknown.txt", 1, "unknown format"),
        (LLAMA / "bench_2024-01_phone_truncated.json", None, "truncated JSON"),
        (LLAMA / "loader_without_timings.txt", None, "no llama.cpp timing lines"),
        (LLAMA / "two_models.txt", 4, "two models in one log"),
        (ET / "llama_main_truncated_observer.txt", 1, "truncated PyTorchObserver JSON"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_stored(
    run_bench, tmp_path: Path, path: Path, line: int | None, message: str
) -> None:
    # A good file first on the same command line: it must not be stored either.
    r = run_bench("import", str(CAPTURED.with_suffix(".json")), str(path))
    assert r.returncode == 2
    text = only_line(r.stderr)
    if line is None:
        line = len(path.read_text().splitlines())
    assert text.startswith(f"error: {path}:{line}: ") and message in text, text
    db = tmp_path / "pocketbench.db"
    assert not db.exists() or counts(db) == (0, 0, 0, 0, 0)


def test_a_huge_file_is_refused_before_reading(run_bench, tmp_path: Path) -> None:
    big = tmp_path / "huge.json"
    with open(big, "wb") as f:  # sparse: 5 GiB on paper, nothing on disk
        f.truncate(5 << 30)
    r = run_bench("import", str(big))
    assert r.returncode == 2
    line = only_line(r.stderr)
    assert str(big) in line and "MiB" in line and "not read" in line


def test_report_and_compare_treat_imports_like_measured_runs(
    run_bench, example_backend, tmp_path: Path
) -> None:
    measured = run_bench(
        "--backend", "numpy-ref", "--model", "tiny", "--runs", "3", "--prompt-tokens", "16",
        "--gen-tokens", "8", "--campaign", "measured", paths=(example_backend,),
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr
    # The same llama-bench configuration, measured twice (two real captures).
    for fmt, name in (("json", "first"), ("jsonl", "second")):
        r = run_bench("import", str(CAPTURED.with_suffix(f".{fmt}")), "--campaign", name)
        assert r.returncode == 0, r.stderr
    report = run_bench("report", paths=(example_backend,))
    assert report.returncode == 0, report.stderr
    assert "numpy-ref" in report.stdout and "llamacpp" in report.stdout
    assert "imported_from" in report.stdout.replace("\\", "")
    cmp = run_bench("compare", "first", "second", "--json")
    assert cmp.returncode == 0, cmp.stderr
    changes = json.loads(cmp.stdout)["changes"]
    second = {c.config_key: c for c in stored(tmp_path / "pocketbench.db", "second")}
    assert {c["metric"] for c in changes} == {"prompt_tps", "generation_tps", "total_tps"}
    assert {c["config_key"] for c in changes} == set(second)  # both depths matched
    for change in changes:
        new = second[change["config_key"]].samples(change["metric"])
        assert math.isclose(float(change["new_mean"]), sum(new) / len(new), abs_tol=0.01)
        assert change["pvalue"] != "n/a"  # Welch's test ran on the imported runs
