"""Quality with ExecuTorch's runtime on smollm2-135m, and the same model in both runtimes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("executorch")
pytestmark = [pytest.mark.slow, pytest.mark.executorch]

QUICK = ("--quality-ctx", "128", "--quality-chunks", "3")
RUN = ("-n", "1", "--warmup", "0", "--prompt-tokens", "8", "--gen-tokens", "8", "--cooldown", "off")
PROMPT = "The capital of France is"
#: Tokens compared between the two runtimes' greedy continuations.
GREEDY_TOKENS = 8


def _prepared(backend: str, quant: str):  # noqa: ANN202 - (job, Prepared)
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices.local import LocalDevice
    from pocketbench.core.engine.plugins import Registry

    registry = Registry.from_entry_points(warn=lambda message: None)
    job = Job(backend=backend, quant=quant, model="smollm2-135m",
              workload=Workload(prompt_tokens=8, gen_tokens=8))  # fmt: skip
    pm = registry.backend_manager(backend)
    return registry, job, pm.hook.pocketbench_prepare(job=job, device=LocalDevice())


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """baseline and 8da4w with --quality through the CLI; the JSON report's configurations."""
    from pocketbench.testing.cli import run_bench

    where = tmp_path_factory.mktemp("quality-executorch")
    # The two exports are independent: made at once, one a core (export.heavy_lock
    # lets two small exports overlap); the runs below find them in the cache.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda quant: _prepared("executorch", quant), ("baseline", "8da4w")))
    for quant in ("baseline", "8da4w"):
        r = run_bench(
            "--backend", "executorch", "--quant", quant, "--model", "smollm2-135m", "--quality",
            *QUICK, *RUN, "--db", "q.db", "--campaign", "q", cwd=where, timeout=3600,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "Mean KL Divergence" in r.stdout and "Generation Speed" in r.stdout
    rep = run_bench("report", "--db", "q.db", "--format", "json", cwd=where)
    assert rep.returncode == 0, rep.stderr
    return {c["quant"]: c for c in json.loads(rep.stdout)["configurations"]}


def test_8da4w_loses_something_against_the_executorch_baseline(measured: dict[str, dict]) -> None:
    q = measured["8da4w"]["quality"]
    assert q["reference"] == "executorch baseline smollm2-135m"
    assert q["kl_mean"]["value"] > 0 and q["top1_agreement"]["value"] < 1
    # 4-bit weights predict the text less well than the float baseline.
    assert q["ppl_ratio"]["value"] > 1
    assert q["eval_tokens"] == 384 and "ExecuTorch" in q["method"]


def test_the_baseline_against_itself_is_exactly_zero(measured: dict[str, dict]) -> None:
    q = measured["baseline"]["quality"]
    assert q["reference"] == "executorch baseline smollm2-135m"
    assert q["kl_mean"] == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert q["top1_agreement"]["value"] == 1.0
    assert q["ppl_ratio"]["value"] == 1.0


def test_spinquant_is_refused_for_a_model_without_meta_checkpoints(run_bench) -> None:
    r = run_bench("--backend", "executorch", "--quant", "spinquant", "--model", "smollm2-135m")
    assert r.returncode == 3
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "Llama 3.2 only" in line and "baseline, bf16 or 8da4w" in line


def test_greedy_decoding_agrees_between_llamacpp_f16_and_executorch_fp32() -> None:
    _, _, lc = _prepared("llamacpp", "baseline")
    _, _, et = _prepared("executorch", "baseline")
    completion = subprocess.run(
        [lc.state.tools.runner, "-m", str(lc.state.model_local), "-p", PROMPT,
         "-n", str(GREEDY_TOKENS), "--temp", "0", "-no-cnv", "--no-display-prompt", "-t", "2"],
        capture_output=True, text=True, errors="replace", timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert completion.returncode == 0, completion.stderr[-2000:]
    runner = subprocess.run(
        [sys.executable, "-m", "pocketbench.backends.executorch.runner",
         "--model_path", et.describe["model"], "--tokenizer_path", et.describe["tokenizer"],
         "--prompt", PROMPT, "--max_new_tokens", str(GREEDY_TOKENS), "--temperature", "0",
         "--cpu_threads", "2"],
        capture_output=True, text=True, errors="replace", timeout=600,
    )  # fmt: skip
    assert runner.returncode == 0, runner.stderr[-2000:]
    llama_text = completion.stdout.strip()
    et_text = runner.stdout.split("PyTorchObserver")[0].replace(PROMPT, "", 1).strip()
    assert llama_text and et_text
    # The same words, as far as both printed them.
    n = min(len(llama_text), len(et_text))
    assert n >= 8 and llama_text[:n] == et_text[:n], (llama_text, et_text)


def test_next_token_distributions_agree_across_runtimes() -> None:
    """ExecuTorch fp32 against llama.cpp's F16 reference: the same model, nearly the same numbers."""
    from pocketbench.core.api.quality import QualityProtocol
    from pocketbench.core.engine.evaltext import default_text
    from pocketbench.core.engine.quality import QualityPlan, Reference, measure

    registry, job, _ = _prepared("executorch", "baseline")
    plan = QualityPlan(
        text=default_text(),
        protocol=QualityProtocol(ctx=128, chunks=3),
        reference=Reference(backend="llamacpp", quant="baseline"),
    )
    rec = measure(registry, job, plan)
    assert rec.reference == "llamacpp baseline smollm2-135m" and not rec.is_reference
    kl, top1 = rec.value("kl_mean"), rec.value("top1_agreement")
    assert kl is not None and top1 is not None
    assert kl < 0.01, kl
    assert top1 > 0.95, top1
