"""Every token's time in every report: stored per-run steps become the same figures everywhere.

The runs are fabricated (their decode-step times are chosen); the store and
the reporters are real.  What is checked: the mean of the runs' percentiles
a user can redo, the JSON ``latency`` contract, and that unreliable and
declined runs are said, not averaged in.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pocketbench.core.api.model import DeviceFacts, Job, ProcessResult, RunRecord, Workload
from pocketbench.core.api.tokentimes import TokenLatency
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.results.build import build_report
from pocketbench.core.results.report import ReportOptions
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import compile_latex, metrics

#: Three runs' decode steps (µs): steady 5, 6 and 7 ms with one 30 ms stall each.
RUNS = [(5000,) * 30 + (30000,), (6000,) * 30 + (30000,), (7000,) * 30 + (30000,)]


def add(store: Store, quant: str, latencies: list[TokenLatency]) -> None:
    job = Job(
        backend="llamacpp", quant=quant, model="m", runs=len(latencies),
        workload=Workload(prompt_tokens=64, gen_tokens=32, threads=2),
    )  # fmt: skip
    job_id = store.start_job(job, DeviceFacts(name="local", kind="local", cores=2), {})
    result = ProcessResult(argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1.0)
    for i, latency in enumerate(latencies):
        m = metrics(300.0, 150.0 + i, latency=latency)  # type: ignore[arg-type]
        store.add_run(job_id, RunRecord(index=i, warmup=False, result=result, metrics=m))
    store.finish_job(job_id, "done")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "lat.db"
    with Store.open(path) as s:
        s.campaign("c")
        add(s, "q4_0", [TokenLatency(steps_us=r) for r in RUNS])
        add(
            s,
            "q8_0",
            [
                TokenLatency(steps_us=RUNS[0]),
                TokenLatency(steps_us=RUNS[1], unreliable="the gaps add up to 1 ms against 2 ms"),
                TokenLatency(declined="the runtime wrote its output in 2 pieces for 32 tokens"),
            ],
        )
    return path


def render(registry: Registry, db: Path, fmt: str, plusminus: str = "sd") -> str:
    with Store.open(db, create=False) as s:
        return registry.render(fmt, build_report(s, "c"), ReportOptions(plusminus=plusminus))


def test_json_latency_is_the_mean_of_the_runs_figures(registry: Registry, db: Path) -> None:
    full, partial = (
        c["latency"] for c in json.loads(render(registry, db, "json"))["configurations"]
    )
    # Per run: p50 = the steady step, max = the stall, one stall; then the mean over runs.
    assert full["tpot_p50_ms"]["mean"] == pytest.approx(6.0)
    assert full["tpot_p50_ms"]["n"] == 3
    low, high = full["tpot_p50_ms"]["ci95"]
    assert low < 6.0 < high
    assert full["max_gap_ms"]["mean"] == pytest.approx(30.0)
    assert full["stalls"]["mean"] == pytest.approx(1.0)
    assert full["problems"] == []
    # Only the one usable run is summarised; the other two are said.
    assert partial["tpot_p50_ms"]["n"] == 1 and partial["tpot_p50_ms"]["mean"] == 5.0
    assert len(partial["problems"]) == 2
    assert partial["problems"] == [
        "per-token times declined in 1 of 3 runs: the runtime wrote its output in 2 pieces"
        " for 32 tokens; the averages are kept",
        "per-token times unreliable in 1 of 3 runs (not summarised): the gaps add up to 1 ms"
        " against 2 ms",
    ]


def test_markdown_and_csv_carry_the_tpot_rows(registry: Registry, db: Path) -> None:
    text = render(registry, db, "markdown")
    row = next(
        line for line in text.splitlines() if line.startswith("| Time per Output Token, p50")
    )
    assert "6.00 ± 1.00" in row
    assert "q8\\_0: per-token times declined in 1 of 3 runs: the runtime wrote" in text
    assert "q8\\_0: per-token times unreliable in 1 of 3 runs (not summarised)" in text
    rows = list(csv.DictReader(io.StringIO(render(registry, db, "csv"))))
    assert [r["tpot_p50_ms"] for r in rows[:3]] == ["5", "6", "7"]
    assert [r["stalls"] for r in rows[:3]] == ["1", "1", "1"]
    assert rows[4]["tpot_p50_ms"] == "" and rows[5]["tpot_p50_ms"] == ""


def test_latex_compiles_and_html_plots_time_against_position(
    registry: Registry, db: Path, tmp_path: Path
) -> None:
    tex = render(registry, db, "latex", "ci")
    assert "Time per Output Token,\\allowbreak{} p90 (ms)" in tex
    assert "per-{}token times declined" in tex
    compile_latex(tex, tmp_path)
    page = render(registry, db, "html")
    assert "<h2>Decode time against position</h2>" in page
    assert "Time per Output Token, p99" in page
