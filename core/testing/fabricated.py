"""Fabricated results for reporter tests: a real SQLite results file with made-up runs.

Reporters only format what is stored, so the runs may be invented; the store
is real.  A third-party reporter's tests can render :func:`fabricate`'s file
and compile or parse what comes out; :data:`NASTY` is a string every format
must escape.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pocketbench.core.api.bandwidth import JobBandwidth
from pocketbench.core.api.model import (
    DeviceFacts,
    Job,
    Metrics,
    ProcessResult,
    Readings,
    RunRecord,
    Workload,
)
from pocketbench.core.results.store import Store
from pocketbench.testing.latex import compile_latex  # noqa: F401 - re-exported for the tests

#: A user string that breaks every format that fails to escape it.
NASTY = r"50% \input{x} _&# <script>alert(1)</script> | $x$ ~^"


def metrics(
    prompt: float, gen: float, *, extra: dict[str, float] | None = None, **fields: float
) -> Metrics:
    """Metrics of a 64-token prompt and 32 new tokens at the given speeds."""
    p_tok, g_tok = 64, 32
    total = Metrics.total_rate(p_tok, g_tok, p_tok / prompt, g_tok / gen)
    return Metrics(
        prompt_tokens=p_tok,
        gen_tokens=g_tok,
        prompt_tps=prompt,
        generation_tps=gen,
        total_tps=total,
        extra=extra or {},
        **fields,  # type: ignore[arg-type]
    )


def add_config(
    store: Store,
    *,
    backend: str,
    quant: str,
    model: str,
    device: str = "local",
    gens: Sequence[float],
    prompts: Sequence[float] | None = None,
    temps: Sequence[float] | None = None,
    failed: int = 0,
    describe: dict[str, str] | None = None,
    prompt: str | None = None,
    runner_total: bool = False,
    bandwidth: JobBandwidth | None = None,
) -> None:
    """One configuration with made-up measured runs, stored like real ones."""
    job = Job(
        backend=backend,
        quant=quant,
        model=model,
        device=device,
        runs=len(gens),
        warmup=1,
        workload=Workload(prompt_tokens=64, gen_tokens=32, threads=2, prompt=prompt),
    )
    facts = DeviceFacts(
        name=device,
        kind="local",
        model=f"Phone {NASTY}",
        manufacturer="ACME",
        soc="Exynos 1280",
        abi="arm64-v8a",
        os="Android 14",
        cores=8,
        max_freqs_khz=(2400000, 2000000),
        ram_bytes=6 * 2**30,
    )
    job_id = store.start_job(
        job, facts, describe or {"version": "b1234", "commit": "0c1e570"}, bandwidth=bandwidth
    )
    result = ProcessResult(
        argv=("runner", "-p", prompt or "x"), stdout="ok", stderr="", exit_code=0, wall_s=1.0
    )
    prompts = prompts or [g * 5 for g in gens]
    store.add_run(
        job_id,
        RunRecord(
            index=0, warmup=True, result=result, metrics=metrics(prompts[0] * 0.8, gens[0] * 0.9)
        ),
    )
    for i, (g, p) in enumerate(zip(gens, prompts)):
        before = after = None
        if temps is not None:
            before = Readings(time=float(i), temperatures_c={"cpu": temps[i] - 1})
            after = Readings(time=float(i) + 0.5, temperatures_c={"cpu": temps[i], "bat": 30.0})
        # A backend's own figure (ExecuTorch declares "runner_total_rate") and a core one.
        own = {"runner_total_rate": g * 0.8} if runner_total else {}
        fields = {"ttft_ms": 1000 / p * 64} if runner_total else {}
        store.add_run(
            job_id,
            RunRecord(
                index=i,
                warmup=False,
                result=result,
                metrics=metrics(p, g, extra=own, peak_rss_bytes=800 * 2**20, **fields),
                before=before,
                after=after,
            ),
        )
    for j in range(failed):
        bad = ProcessResult(
            argv=("runner",), stdout="", stderr=f"boom {NASTY}", exit_code=1, wall_s=0.1
        )
        store.add_run(
            job_id,
            RunRecord(
                index=len(gens) + j,
                warmup=False,
                result=bad,
                error=f"the runtime exited with code 1: boom {NASTY}",
            ),
        )
    store.finish_job(job_id, "done")


def fabricate(path: Path) -> Path:
    """Campaign "old" and campaign "new": a clear regression, noise, and one unmatched each."""
    with Store.open(path) as store:
        store.campaign("old")
        add_config(
            store,
            backend="llamacpp",
            quant="q4_0",
            model="tiny",
            gens=[11.6, 11.5, 11.7, 11.55, 11.62, 11.58, 11.49, 11.66],
        )
        add_config(
            store,
            backend="llamacpp",
            quant="q8_0",
            model="tiny",
            gens=[9.45, 9.3, 9.6, 9.5, 9.41, 9.38, 9.55, 9.47],
        )
        add_config(
            store,
            backend="executorch",
            quant="baseline",
            model="tiny",
            gens=[5.3, 5.31, 5.29, 5.32],
        )
        store.campaign("new")
        # q4_0 regressed by ~20%; q8_0 only moved by noise; NASTY is new.
        add_config(
            store,
            backend="llamacpp",
            quant="q4_0",
            model="tiny",
            gens=[9.3, 9.2, 9.35, 9.25, 9.31, 9.28, 9.22, 9.33],
        )
        add_config(
            store,
            backend="llamacpp",
            quant="q8_0",
            model="tiny",
            gens=[9.5, 9.35, 9.4, 9.52, 9.44, 9.36, 9.58, 9.43],
        )
        add_config(
            store,
            backend="llamacpp",
            quant="q4_0",
            model=NASTY,
            device=NASTY,
            gens=[10.0, 9.9, 9.7, 9.5, 9.2, 9.0, 8.8, 8.5],
            temps=[40.0, 42.5, 44.0, 45.5, 47.0, 48.0, 49.5, 50.0],
            failed=1,
            describe={"version": NASTY, "model_file": f"/data/{NASTY}.gguf"},
            prompt=NASTY,
            runner_total=True,
        )
    return path
