"""Every token's time with the real runtimes on this host, through ``bench`` as a user runs it.

llama-completion and ExecuTorch's runner (the same C++ runner as
``llama_main``) both write and flush each token as they make it.  Whether
a run's figures agree with the runtime's own timers depends on how
busy the machine is, so this checks what does not: every generated token
reaches the launcher as its own piece of output (or the run says why not),
each run stores one step per decode step, and the reports carry them.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pocketbench.core.api.model import Metrics
from pocketbench.core.kit.convert import loads
from pocketbench.core.testing.cli import run_bench

pytestmark = pytest.mark.slow

GEN = 48


@pytest.mark.parametrize(
    ("backend", "quant", "printed"),
    [("llamacpp", "q4_0", "<fill"), ("executorch", "baseline", "<|reserved_special_token_")],
)
def test_bench_stores_every_decode_step_and_reports_latency(
    tmp_path: Path, backend: str, quant: str, printed: str
) -> None:
    db = tmp_path / "r.db"
    done = run_bench(
        "run", "--backend", backend, "--quant", quant, "--model", "tiny",
        "--runs", "2", "--prompt-tokens", "32", "--gen-tokens", str(GEN), "--db", str(db),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # TPOT beside the rates, or one line per kind saying why the runs have none.
    assert "Time per Output Token, p50 (ms)" in done.stdout or "per-token times" in done.stdout

    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT stdout, metrics FROM runs WHERE warmup = 0").fetchall()
    assert len(rows) == 2
    for stdout, text in rows:
        latency = loads(text, Metrics).latency  # type: ignore[union-attr]
        assert latency is not None
        # Tokens past the synthetic vocabulary's words print themselves (in llama.cpp's
        # GGUF they used to print nothing).
        assert printed in stdout
        if not latency.declined:
            assert len(latency.steps_us) == GEN - 1 and min(latency.steps_us) >= 0

    report = run_bench("report", "--format", "json", "--db", str(db), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    (config,) = json.loads(report.stdout)["configurations"]
    latency = config["latency"]
    assert set(latency) == {
        "tpot_p50_ms", "tpot_p90_ms", "tpot_p99_ms", "max_gap_ms", "stalls", "problems",
    }  # fmt: skip
    if latency["tpot_p50_ms"] is not None:
        p50, p90, p99 = (latency[f"tpot_p{q}_ms"]["mean"] for q in (50, 90, 99))
        assert p50 <= p90 <= p99 <= latency["max_gap_ms"]["mean"]
    else:
        assert latency["problems"]
