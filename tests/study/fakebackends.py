"""In-process fake backends whose runs are real subprocesses printing timing lines.

The speeds are the seed study's means, with a deterministic 2% jitter per
run, so the findings document has real differences to find and real
non-differences (SpinQuant vs QAT+LoRA) to call indistinguishable.
"""

from __future__ import annotations

import re
import sys

from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.hookspecs import hookimpl
from pocketbench.core.api.model import BackendInfo, Metrics, Prepared, QuantScheme
from pocketbench.core.engine.plugins import BACKENDS, Registry
from pocketbench.testing.latex import compile_latex  # noqa: F401 - re-exported for the tests

# The child process: prints llama.cpp-like timing lines for the asked speeds.
CHILD = r"""
import random, sys
prompt_tps, gen_tps, seed, p_tok, g_tok = sys.argv[1:6]
rng = random.Random(seed)
p = float(prompt_tps) * (1 + rng.gauss(0, 0.02))
g = float(gen_tps) * (1 + rng.gauss(0, 0.02))
p_tok, g_tok = int(p_tok), int(g_tok)
print(f"prompt eval time = {p_tok / p * 1000:.3f} ms / {p_tok} tokens")
print(f"eval time = {g_tok / g * 1000:.3f} ms / {g_tok} runs")
"""

SEED_SPEEDS = {
    ("fake-et", "baseline"): (7.14, 5.31),
    ("fake-et", "spinquant"): (57.72, 15.42),
    ("fake-et", "qat-lora"): (54.48, 15.42),  # generation as fast as SpinQuant
    ("fake-cpp", "baseline"): (28.47, 5.64),
    ("fake-cpp", "q8_0"): (9.83, 9.45),
    ("fake-cpp", "q4_0"): (31.52, 11.58),
}


class FakeBackend:
    def __init__(
        self, name: str, schemes: tuple[str, ...], *, fail_quant: str | None = None
    ) -> None:
        self.name = name
        self.schemes = schemes
        self.fail_quant = fail_quant
        self.runs: list[tuple[str, int]] = []

    @hookimpl
    def pocketbench_backend_info(self) -> BackendInfo:
        return BackendInfo(
            description=f"fake {self.name}",
            version="0.0-test",
            schemes=tuple(
                QuantScheme(name=s, description=f"scheme {s}", aliases=(s.upper(),))
                for s in self.schemes
            ),
        )

    @hookimpl
    def pocketbench_prepare(self, job, device) -> Prepared:  # type: ignore[no-untyped-def]
        return Prepared(
            describe={
                f"{self.name} version": "1.2.3",
                "build commit": "0c1e570",
                "model file": f"/cache/{job.model}-{job.quant}.bin",
            }
        )

    @hookimpl
    def pocketbench_run(self, job, device, prepared, index):  # type: ignore[no-untyped-def]
        self.runs.append((job.quant, index))
        if job.quant == self.fail_quant and index == 1:
            return device.run([sys.executable, "-c", "import sys; sys.exit('crashed')"], timeout=30)
        p, g = SEED_SPEEDS[(self.name, job.quant)]
        w = job.workload
        # The jitter depends on the run index only: equal speeds give equal samples.
        argv = [
            sys.executable,
            "-c",
            CHILD,
            str(p),
            str(g),
            f"{self.name}/{index}",
            str(w.prompt_tokens),
            str(w.gen_tokens),
        ]
        return device.run(argv, timeout=w.timeout_s)

    @hookimpl
    def pocketbench_parse(self, job, prepared, result) -> Metrics:  # type: ignore[no-untyped-def]
        p = re.search(r"prompt eval time = ([\d.]+) ms / (\d+) tokens", result.stdout)
        g = re.search(r"\beval time = ([\d.]+) ms / (\d+) runs", result.stdout)
        if not p or not g:
            raise ParseError("no timing lines")
        ps, pt, gs, gt = float(p[1]) / 1000, int(p[2]), float(g[1]) / 1000, int(g[2])
        return Metrics(
            prompt_tokens=pt,
            gen_tokens=gt,
            prompt_tps=pt / ps,
            generation_tps=gt / gs,
            total_tps=Metrics.total_rate(pt, gt, ps, gs),
        )


def make_registry() -> Registry:
    reg = Registry(warn=lambda message: None)
    reg.add(BACKENDS, "fake-et", FakeBackend("fake-et", ("baseline", "spinquant", "qat-lora")))
    reg.add(BACKENDS, "fake-cpp", FakeBackend("fake-cpp", ("baseline", "q8_0", "q4_0", "q4_k_m")))
    # The reporters pocketbench ships, as installed.
    shipped = Registry.from_entry_points(third_party=False, warn=lambda message: None)
    reg.sources["pocketbench.reporters"] = shipped.sources["pocketbench.reporters"]
    return reg


SEED_STUDY = """
name = "seed-fake"
title = "Llama speed on a phone: fake ExecuTorch vs fake llama.cpp"
description = "The seed study, re-run by pocketbench with 50% \\\\input{x} _&# <script> | in it."
models = ["tiny"]
devices = ["local"]
runs = 8
warmup = 1

[workload]
prompt_tokens = 16
gen_tokens = 8
threads = 2

[[framework]]
backend = "fake-et"
label = "ExecuTorch"
quants = ["baseline", "spinquant", "qat-lora"]

[[framework]]
backend = "fake-cpp"
label = "Llama.cpp"
quants = ["baseline", "q8_0", "q4_0"]
"""
