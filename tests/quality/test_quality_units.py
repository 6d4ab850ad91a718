"""The quality protocol's arithmetic, storage and reporting, without a model."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pocketbench.core.api.quality import QualityProtocol, QualityResult
from pocketbench.core.kit import logprobs
from pocketbench.core.results.quality import (
    pareto_front,
    record_from_result,
)


def _logits(rng: np.random.Generator, n: int, vocab: int) -> np.ndarray:
    return (rng.standard_normal((n, vocab)) * 3).astype(np.float32)


def test_reference_file_round_trip_keeps_log_probabilities(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ctx, vocab = 16, 101  # odd vocab: rows are padded to an even width
    tokens = list(rng.integers(0, vocab, size=2 * ctx))
    logits = [_logits(rng, ctx - 1 - ctx // 2, vocab) for _ in range(2)]
    path = tmp_path / "ref.kld"
    with open(path, "wb") as f:
        logprobs.write_header(f, ctx, vocab, [int(t) for t in tokens])
        for chunk in logits:
            f.write(logprobs.encode_rows(chunk))
    header, read_tokens = logprobs.read_header(path)
    assert (header.n_ctx, header.n_vocab, header.n_chunk) == (ctx, vocab, 2)
    assert read_tokens == [int(t) for t in tokens]
    for chunk, ref in zip(logits, logprobs.iter_chunks(path, header)):
        exact = logprobs.log_softmax(chunk)
        kept = exact > exact.max(axis=1, keepdims=True) - 16
        # 16 nats in 65535 steps: within one step where stored exactly.
        assert np.abs(ref - exact)[kept].max() < 16 / 65535 * 1.01


def test_identical_logits_score_zero_and_different_ones_do_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    logits = _logits(rng, 40, 64)
    path = tmp_path / "ref.kld"
    with open(path, "wb") as f:
        logprobs.write_header(f, 82, 64, list(range(82)))
        f.write(logprobs.encode_rows(logits))
    header, _ = logprobs.read_header(path)
    (ref,) = list(logprobs.iter_chunks(path, header))
    targets = rng.integers(0, 64, size=40)
    same = logprobs.score(ref, logits, targets)
    assert abs(same.kl.mean()) < 1e-4 and same.same_top.mean() == 1.0
    stored = same.nll_ref < 15.9  # log-probabilities below the 16-nat floor are not kept
    assert stored.sum() > 30 and np.allclose(same.nll[stored], same.nll_ref[stored], atol=1e-3)
    noisy = logprobs.score(ref, logits + rng.standard_normal(logits.shape) * 2, targets)
    assert noisy.kl.mean() > 0.1 and noisy.same_top.mean() < 1.0


def test_a_truncated_reference_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ref.kld"
    with open(path, "wb") as f:
        logprobs.write_header(f, 16, 10, list(range(32)))
        f.write(b"\0" * 10)
    from pocketbench.core.api.errors import SetupError

    with pytest.raises(SetupError, match="complete reference file"):
        logprobs.read_header(path)


def test_pareto_front_keeps_the_undominated() -> None:
    # (speed, KL): the baseline is slow but exact; q8 faster and close; q4 fastest;
    # a slow and far one is dominated by everything.
    points = [(10.0, 0.0), (15.0, 0.01), (20.0, 0.07), (12.0, 0.2)]
    assert pareto_front(points) == [0, 1, 2]
    assert pareto_front([(1.0, math.nan), (2.0, 0.1)]) == [1]


def _result(**kw: float) -> QualityResult:
    base = dict(scored=300, eval_tokens=1024, n_vocab=100, nll_mean=math.log(20.0), nll_se=0.05)
    return QualityResult(**{**base, **kw})  # type: ignore[arg-type]


def test_intervals_stay_where_the_figures_live() -> None:
    rec = record_from_result(
        _result(
            kl_mean=0.004,
            kl_se=0.003,
            kl_p99=0.05,
            top1=0.995,
            top1_se=0.004,
            ln_ratio=0.01,
            ln_ratio_se=0.005,
        ),  # fmt: skip
        reference="llamacpp baseline m",
        text_name="t",
        text_sha256="0" * 64,
        protocol="kl1-c128-n3",
        is_reference=False,
    )
    kl, top, ppl = rec.figures["kl_mean"], rec.figures["top1_agreement"], rec.figures["ppl"]
    assert kl.ci95 is not None and kl.ci95[0] == 0.0 < kl.value < kl.ci95[1]
    assert top.ci95 is not None and top.ci95[1] == 1.0
    assert ppl.ci95 is not None and ppl.ci95[0] < 20.0 < ppl.ci95[1]
    # Log-scale interval: further above than below.
    assert ppl.ci95[1] - 20.0 > 20.0 - ppl.ci95[0]


def test_the_reference_against_itself_is_exactly_zero() -> None:
    rec = record_from_result(
        _result(), reference="x", text_name="t", text_sha256="0" * 64, protocol="p",
        is_reference=True,
    )  # fmt: skip
    assert rec.value("kl_mean") == 0.0 and rec.value("top1_agreement") == 1.0
    assert rec.value("ppl_ratio") == 1.0 and rec.value("ppl") == pytest.approx(20.0)


def test_protocol_counts_positions_and_refuses_too_few() -> None:
    from pocketbench.core.api.errors import UsageError

    p = QualityProtocol(ctx=128, chunks=3)
    assert p.scored == 189 and p.tokens_needed == 384
    with pytest.raises(UsageError, match="at least 100"):
        QualityProtocol(ctx=64, chunks=2).check()
    assert "needs at least 384" in str(p.too_short("x.txt", 200))


def test_an_old_store_gains_the_quality_table_and_keeps_its_runs(tmp_path: Path) -> None:
    from pocketbench.core.results import schema as schema_module
    from pocketbench.core.results.schema import SCHEMA_VERSION
    from pocketbench.core.results.store import Store

    db = tmp_path / "old.db"
    # A file as the first schema wrote it, long before quality existed.
    with sqlite3.connect(db) as c:
        c.executescript(schema_module._SCHEMA)
        c.execute(f"PRAGMA application_id = {schema_module.APPLICATION_ID}")
        c.execute("PRAGMA user_version = 1")
        c.execute("INSERT INTO campaigns(name, created_at) VALUES ('old', 0)")
    with Store.open(db) as store:
        assert [c["name"] for c in store.campaigns()] == ["old"]
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT COUNT(*) FROM quality").fetchone()[0] == 0


def test_reports_carry_quality(tmp_path: Path, registry) -> None:  # noqa: ANN001
    from pocketbench.core.api.model import Job, Metrics, ProcessResult, RunRecord
    from pocketbench.core.results.build import build_report
    from pocketbench.core.results.report import ReportOptions
    from pocketbench.core.results.store import Store

    rec = record_from_result(
        _result(
            kl_mean=0.07,
            kl_se=0.01,
            kl_p99=0.9,
            top1=0.89,
            top1_se=0.01,
            ln_ratio=0.05,
            ln_ratio_se=0.01,
        ),  # fmt: skip
        reference="llamacpp baseline smollm2-135m",
        text_name="t",
        text_sha256="a" * 64,
        protocol="kl1-c128-n3",
        is_reference=False,
    )
    with Store.open(tmp_path / "r.db") as store:
        store.campaign("c")
        for quant, q in (("baseline", None), ("q4_0", rec)):
            job = Job(backend="llamacpp", quant=quant, model="smollm2-135m")
            job_id = store.start_job(job, None, {})
            result = ProcessResult(argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1.0)
            metrics = Metrics(prompt_tokens=64, gen_tokens=64, prompt_tps=100.0,
                              generation_tps=20.0, total_tps=30.0)  # fmt: skip
            store.add_run(job_id, RunRecord(index=0, warmup=False, result=result, metrics=metrics))
            if q is not None:
                store.add_quality(job_id, q)
        report = build_report(store, "c")
    data = json.loads(registry.render("json", report, ReportOptions()))
    base, q4 = data["configurations"]
    assert base["quality"] is None
    assert q4["quality"]["kl_mean"]["value"] == 0.07
    assert q4["quality"]["kl_p99"] == {"value": 0.9, "ci95": None}
    assert q4["quality"]["reference"] == "llamacpp baseline smollm2-135m"
    assert q4["quality"]["eval_tokens"] == 1024
    assert "4-bit rounding once" in data["model_notes"][0]
    md = registry.render("markdown", report, ReportOptions())
    assert "Mean KL Divergence" in md and "0.0700" in md and "4-bit rounding once" in md
    csv_text = registry.render("csv", report, ReportOptions())
    header, *rows = csv_text.splitlines()
    assert (
        "kl_mean" in header.split(",")
        and rows[-1].split(",")[header.split(",").index("kl_mean")] == "0.07"
    )


def test_findings_word_the_trade_off_and_name_the_pareto_front(tmp_path: Path) -> None:
    from pocketbench.core.analysis.tradeoff import quality_lines
    from pocketbench.core.api.model import Job, Metrics, ProcessResult, RunRecord
    from pocketbench.core.results.build import build_report
    from pocketbench.core.results.store import Store

    common = dict(text_name="t", text_sha256="a" * 64, protocol="kl1-c128-n3")
    ref = "llamacpp baseline smollm2-135m"
    records = {
        "baseline": (10.0, record_from_result(_result(), reference=ref, is_reference=True, **common)),
        "q8_0": (15.0, record_from_result(
            _result(kl_mean=0.004, kl_se=0.001, top1=0.97, top1_se=0.01),
            reference=ref, is_reference=False, **common)),
        "q4_0": (23.1, record_from_result(
            _result(kl_mean=0.071, kl_se=0.01, top1=0.89, top1_se=0.01),
            reference=ref, is_reference=False, **common)),
        # Slower than Q4_0 and further from the reference: on no front.
        "q2_k": (20.0, record_from_result(
            _result(kl_mean=0.5, kl_se=0.05, top1=0.6, top1_se=0.02),
            reference=ref, is_reference=False, **common)),
    }  # fmt: skip
    with Store.open(tmp_path / "r.db") as store:
        store.campaign("c")
        for quant, (speed, rec) in records.items():
            job_id = store.start_job(Job(backend="llamacpp", quant=quant, model="m"), None, {})
            result = ProcessResult(argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1.0)
            for i, tps in enumerate((speed * 0.99, speed * 1.01)):
                metrics = Metrics(prompt_tokens=64, gen_tokens=64, prompt_tps=100.0,
                                  generation_tps=tps, total_tps=30.0)  # fmt: skip
                run = RunRecord(index=i, warmup=False, result=result, metrics=metrics)
                store.add_run(job_id, run)
            store.add_quality(job_id, rec)
        report = build_report(store, "c")
    base = report.configs[0]
    lines = quality_lines([(f"Llama.cpp {c.quant.upper()}", c, base) for c in report.configs])
    text = "\n".join(lines)
    assert "is the quality reference (perplexity 20.00" in text
    assert (
        "Llama.cpp Q4_0 generates 2.31× faster than the baseline at a mean KL divergence of 0.071 "
        "(top-1 agreement 89%" in text
    )
    assert "(top-1 agreement 89%" in text
    pareto = lines[-1]
    assert "Pareto front" in pareto and "Q4_0" in pareto and "Q8_0" in pareto
    assert "Q2_K" not in pareto


def test_a_study_mixing_frameworks_words_each_trade_off_and_one_pareto_front(
    tmp_path: Path,
) -> None:
    """llama.cpp and ExecuTorch, each against its own baseline: one front across both."""
    from pocketbench.core.analysis.tradeoff import quality_lines
    from pocketbench.core.api.model import Job, Metrics, ProcessResult, RunRecord
    from pocketbench.core.results.build import build_report
    from pocketbench.core.results.store import Store

    common = dict(text_name="t", text_sha256="a" * 64, protocol="kl1-c256-n8")
    lc, et = "llamacpp baseline smollm2-135m", "executorch baseline smollm2-135m"
    configs = {
        ("llamacpp", "baseline"): (90.0, record_from_result(
            _result(), reference=lc, is_reference=True, **common)),
        ("llamacpp", "q8_0"): (145.0, record_from_result(
            _result(kl_mean=0.004, kl_se=0.001, top1=0.96, top1_se=0.01),
            reference=lc, is_reference=False, **common)),
        ("executorch", "baseline"): (50.0, record_from_result(
            _result(), reference=et, is_reference=True, **common)),
        ("executorch", "8da4w"): (200.0, record_from_result(
            _result(kl_mean=0.424, kl_se=0.01, top1=0.57, top1_se=0.01),
            reference=et, is_reference=False, **common)),
    }  # fmt: skip
    with Store.open(tmp_path / "r.db") as store:
        store.campaign("c")
        for (backend, quant), (speed, rec) in configs.items():
            job_id = store.start_job(Job(backend=backend, quant=quant, model="m"), None, {})
            result = ProcessResult(argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1.0)
            for i, tps in enumerate((speed * 0.99, speed * 1.01)):
                metrics = Metrics(prompt_tokens=64, gen_tokens=64, prompt_tps=100.0,
                                  generation_tps=tps, total_tps=30.0)  # fmt: skip
                store.add_run(
                    job_id, RunRecord(index=i, warmup=False, result=result, metrics=metrics)
                )
            store.add_quality(job_id, rec)
        report = build_report(store, "c")
    by = {(c.backend, c.quant): c for c in report.configs}
    names = {"llamacpp": "Llama.cpp", "executorch": "ExecuTorch"}
    triples = [(f"{names[b]} {q}", c, by[(b, "baseline")]) for (b, q), c in by.items()]
    lines = quality_lines(triples)
    text = "\n".join(lines)
    assert (
        "ExecuTorch 8da4w generates 4.00× faster than the baseline at a mean KL divergence of "
        "0.424 (top-1 agreement 57%" in text
    )
    assert "Llama.cpp q8_0 generates 1.61× faster than the baseline" in text
    assert "ExecuTorch baseline is the quality reference" in text
    pareto = lines[-1]
    # The fastest scheme and the closest fast one, whichever framework they come from;
    # ExecuTorch's baseline is slower than llama.cpp's at the same (zero) distance.
    assert ": ExecuTorch 8da4w, Llama.cpp q8_0, Llama.cpp baseline. " in pareto
    assert pareto.endswith(f"Each KL divergence is from its own reference: {et}, {lc}.")
    # A reference other than the framework's own baseline is named in the sentence.
    other = quality_lines(
        [("ExecuTorch 8da4w", by[("executorch", "8da4w")], by[("llamacpp", "baseline")])]
    )
    assert f"at a mean KL divergence of 0.424 from {et}" in other[0]
