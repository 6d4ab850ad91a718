"""The pocketbench hooks of the example backend.

The "runtime" is ``pocketbench_numpy.runtime``, started as a child process
on the device like any real runtime, printing its own timing lines, which
``pocketbench_parse`` reads.  Only ``local`` devices are supported: a phone
has no Python.
"""

from __future__ import annotations

import re
import sys

from pocketbench.plugin import (
    BackendInfo,
    Metrics,
    ParseError,
    Prepared,
    QuantScheme,
    SetupError,
    get_preset,
    hookimpl,
)

SCHEMES = (
    QuantScheme(name="fp32", description="float32 weights", produced_by="numpy random"),
    QuantScheme(
        name="fp16", description="float16 weights, float32 math", produced_by="astype(float16)"
    ),
)


@hookimpl
def pocketbench_backend_info():
    return BackendInfo(
        description="NumPy reference decoder (example third-party backend)",
        version="0.1.0",
        schemes=SCHEMES,
        default_scheme="fp32",
    )


@hookimpl
def pocketbench_prepare(job, device):
    if not device.is_local:
        raise SetupError(f"numpy-ref runs only on the local host, not on {device.name}")
    spec = get_preset(job.model)
    if spec is None:
        raise SetupError(f"numpy-ref knows only presets; {job.model!r} is not one")
    return Prepared(describe={"runtime": f"numpy {__import__('numpy').__version__}"}, state=spec)


@hookimpl
def pocketbench_run(job, device, prepared, index):
    w = job.workload
    argv = [
        sys.executable,
        "-m",
        "pocketbench_numpy.runtime",
        "--preset",
        prepared.state.name,
        "--dtype",
        job.quant,
        "--prompt-tokens",
        str(w.prompt_tokens),
        "--gen-tokens",
        str(w.gen_tokens),
        "--threads",
        str(w.threads),
        "--seed",
        str(index),
    ]
    env = {"OMP_NUM_THREADS": str(w.threads), "OPENBLAS_NUM_THREADS": str(w.threads)}
    return device.run(argv, timeout=w.timeout_s, env=env)


_PROMPT = re.compile(r"^prompt: (\d+) tokens in ([0-9.]+) s$", re.M)
_GENERATION = re.compile(r"^generation: (\d+) tokens, (\d+) decode steps in ([0-9.]+) s$", re.M)


@hookimpl
def pocketbench_parse(job, prepared, result):
    prompt, generation = _PROMPT.search(result.stdout), _GENERATION.search(result.stdout)
    if prompt is None or generation is None:
        raise ParseError("no 'prompt:' and 'generation:' timing lines in the output")
    pn, ps = int(prompt[1]), float(prompt[2])
    gn, steps, gs = int(generation[1]), int(generation[2]), float(generation[3])
    if ps <= 0 or gs <= 0:
        raise ParseError("zero elapsed time in the timing lines")
    return Metrics(
        prompt_tokens=pn,
        gen_tokens=gn,
        prompt_tps=pn / ps,
        # pocketbench's definition: G new tokens are G-1 decode steps.
        generation_tps=steps / gs,
        total_tps=Metrics.total_rate(pn, gn, ps, gs),
        # Prompt evaluation includes the first token's logits: that is the TTFT.
        ttft_ms=ps * 1000.0,
    )
