"""Quality with the real llama-perplexity on the real smollm2-135m (built and fetched once, cached)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: A short protocol: 3 windows of 128 tokens, 189 scored positions.
QUICK = ("--quality-ctx", "128", "--quality-chunks", "3")
RUN = ("-n", "1", "--warmup", "0", "--prompt-tokens", "8", "--gen-tokens", "8", "--cooldown", "off")


def _runs(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT COUNT(*) FROM runs WHERE warmup = 0").fetchone()[0]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """baseline, q8_0 and q4_0 with --quality in one campaign; the JSON report's configurations."""
    from pocketbench.testing.cli import run_bench

    where = tmp_path_factory.mktemp("quality-llamacpp")
    for quant in ("baseline", "q8_0", "q4_0"):
        r = run_bench(
            "--backend", "llamacpp", "--quant", quant, "--model", "smollm2-135m", "--quality",
            *QUICK, *RUN, "--db", "q.db", "--campaign", "q", cwd=where, timeout=1800,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "Mean KL Divergence" in r.stdout and "Generation Speed" in r.stdout
    rep = run_bench("report", "--db", "q.db", "--format", "json", cwd=where)
    assert rep.returncode == 0, rep.stderr
    return {c["quant"]: c for c in json.loads(rep.stdout)["configurations"]}


def test_quantization_costs_order_as_they_must(measured: dict[str, dict]) -> None:
    base, q8, q4 = (measured[q]["quality"] for q in ("baseline", "q8_0", "q4_0"))
    # The baseline against itself is exactly zero; every quantization loses something,
    # 8 bits less than 4.
    assert base["kl_mean"] == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert base["top1_agreement"]["value"] == 1.0 and base["ppl_ratio"]["value"] == 1.0
    assert 0 < q8["kl_mean"]["value"] < q4["kl_mean"]["value"]
    assert q8["kl_p99"]["value"] < q4["kl_p99"]["value"]
    assert q8["top1_agreement"]["value"] > q4["top1_agreement"]["value"]
    for q in (q8, q4):
        low, high = q["kl_mean"]["ci95"]
        assert low <= q["kl_mean"]["value"] <= high
        assert q["reference"] == "llamacpp baseline smollm2-135m"
        assert q["eval_tokens"] == 384 and q["scored_positions"] == 189
        assert "llama-perplexity" in q["method"]
    # Every configuration was evaluated on the same text by the same protocol.
    assert len({m["quality"]["eval_text_sha256"] for m in measured.values()}) == 1


def test_baseline_is_dequantized_from_the_published_file(measured: dict[str, dict]) -> None:
    d = measured["baseline"]["describe"]
    assert d["quant_type"] == "F16" and "dequantized from the published Q4_1" in d["model_source"]
    assert "llama-quantize Q4_0" in measured["q4_0"]["describe"]["quantized_with"]


def test_a_second_run_reuses_the_cached_quality(measured: dict[str, dict], tmp_path: Path) -> None:
    from pocketbench.testing.cli import run_bench

    r = run_bench(
        "--backend", "llamacpp", "--quant", "q4_0", "--model", "smollm2-135m", "--quality",
        *QUICK, *RUN, "--db", "again.db", cwd=tmp_path, timeout=1800,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "evaluating the reference" not in r.stderr and "measuring the quality" not in r.stderr
    rep = run_bench("report", "--db", "again.db", "--format", "json", cwd=tmp_path)
    (again,) = json.loads(rep.stdout)["configurations"]
    assert again["quality"]["kl_mean"] == measured["q4_0"]["quality"]["kl_mean"]


def test_an_eval_text_too_short_says_how_many_tokens_and_keeps_the_runs(
    run_bench, tmp_path: Path
) -> None:
    (tmp_path / "short.txt").write_text("Alice was beginning to get very tired. " * 5)
    r = run_bench(
        "--backend", "llamacpp", "--quant", "q8_0", "--model", "smollm2-135m", "--quality",
        "--eval-text", "short.txt", *QUICK, *RUN, "--db", "r.db", timeout=1800,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "needs at least 384" in line and "tokens" in line
    assert _runs(tmp_path / "r.db") == 1


def test_a_user_build_without_llama_perplexity(run_bench, tmp_path: Path) -> None:
    from pocketbench.backends.llamacpp.build import ensure_built

    built = ensure_built()
    mine = tmp_path / "bin"
    mine.mkdir()
    for tool in ("llama-completion", "llama-tokenize", "llama-quantize"):
        os.symlink(built / tool, mine / tool)
    # A cache of its own (quality results are cached by model, text and protocol, and this
    # build's files must not be found there); the downloads come from the shared cache.
    from pocketbench.core.engine.evaltext import DEFAULT_TEXT
    from pocketbench.core.kit.cache import cache_dir
    from pocketbench.core.kit.realmodels import REAL_MODELS

    def archive(spec) -> str:  # noqa: ANN001
        return str(cache_dir("packaged", f"{spec.package}-{spec.version}") / spec.archive)

    r = run_bench(
        "--backend", "llamacpp", "--model", "smollm2-135m", "--quality", "--llamacpp-bin",
        str(mine), *QUICK, *RUN, "--db", "r.db", timeout=1800,
        POCKETBENCH_CACHE=str(tmp_path / "cache"),
        POCKETBENCH_SMOLLM2_WHEEL=archive(REAL_MODELS["smollm2-135m"].source),
        POCKETBENCH_EVAL_TEXT_ARCHIVE=archive(DEFAULT_TEXT),
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "has no llama-perplexity" in line
    assert _runs(tmp_path / "r.db") == 1


def test_a_reference_of_another_vocabulary_is_refused(tmp_path: Path) -> None:
    from pocketbench.backends.llamacpp import quality
    from pocketbench.backends.llamacpp.prepare import prepare
    from pocketbench.core.api.errors import UsageError
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.api.quality import QualityProtocol, QualityRequest
    from pocketbench.core.devices.local import LocalDevice
    from pocketbench.core.kit import logprobs

    ref = tmp_path / "other.kld"
    with open(ref, "wb") as f:
        logprobs.write_header(f, 128, 32000, list(range(384)))
        for _ in range(3):
            f.write(logprobs.encode_rows([[0.0] * 32000] * 63))
    job = Job(backend="llamacpp", quant="q8_0", model="smollm2-135m",
              workload=Workload(prompt_tokens=8, gen_tokens=8))  # fmt: skip
    prepared = prepare(job, LocalDevice())
    request = QualityRequest(
        text=ref, text_sha256="0" * 64, protocol=QualityProtocol(ctx=128, chunks=3),
        reference=ref, make_reference=False,
    )  # fmt: skip
    with pytest.raises(UsageError, match="vocabulary of 49152 tokens but the reference has 32000"):
        quality.measure(job, LocalDevice(), prepared, request)
