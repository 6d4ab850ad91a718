"""An in-process backend for tests: every run is a real child process printing timing lines.

Register it in a registry (``registry.add(BACKENDS, "fake", FakeBackend(...))``)
and drive ``bench`` or the runner as a user would: prepare, warm-up, runs,
parsing and storing all happen for real; only the "runtime" is a small
Python program.  Its speeds are given per scheme, with a deterministic 2%
jitter per run index, so a study has real differences to find (and equal
speeds give equal samples).  ``scripts`` replaces the child with any Python
code per run index, for crashes, hangs and garbled output.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import (
    BackendInfo,
    Job,
    Metrics,
    Prepared,
    ProcessResult,
    QuantScheme,
)
from pocketbench.core.devices.base import Device

#: The child process: prints llama.cpp-like timing lines for the asked speeds.
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

#: A child that prints good timing lines quickly (8 prompt tokens, 16 generated).
GOOD = (
    "import time; time.sleep(0.01);"
    " print('prompt eval time = 10.000 ms / 8 tokens');"
    " print('eval time = 40.000 ms / 16 runs')"
)

_PROMPT = re.compile(r"prompt eval time = ([\d.]+) ms / (\d+) tokens")
_EVAL = re.compile(r"\beval time = ([\d.]+) ms / (\d+) runs")


class FakeBackend:
    """A backend whose runtime is a Python child process.

    :param name: the name its results are stored under (and its jitter seed).
    :param schemes: scheme name -> (prompt tokens/s, generation tokens/s).
    :param scripts: when given, run ``scripts[index]`` (or the last) instead.
    :param fail_quant: this scheme's second measured run crashes.
    """

    def __init__(
        self,
        name: str = "fake",
        schemes: Mapping[str, tuple[float, float]] | None = None,
        *,
        scripts: Sequence[str] = (),
        timeout: float | None = None,
        fail_quant: str | None = None,
    ) -> None:
        self.name = name
        self.speeds = dict(schemes or {"baseline": (200.0, 50.0), "q4": (400.0, 100.0)})
        self.scripts = tuple(scripts)
        self.timeout = timeout
        self.fail_quant = fail_quant
        self.prepared = 0
        #: (scheme, index) of every execution, warm-ups included.
        self.runs: list[tuple[str, int]] = []

    @hookimpl
    def pocketbench_backend_info(self) -> BackendInfo:
        return BackendInfo(
            description=f"fake {self.name} (a Python child process)",
            version="0.0-test",
            schemes=tuple(
                QuantScheme(
                    name=s, description=f"scheme {s}", aliases=(s.upper(),), label=_label(s)
                )
                for s in self.speeds
            ),
            default_scheme=next(iter(self.speeds)),
        )

    @hookimpl
    def pocketbench_prepare(self, job: Job, device: Device) -> Prepared:
        self.prepared += 1
        return Prepared(
            describe={
                f"{self.name} version": "1.2.3",
                "build commit": "0c1e570",
                "model file": f"/cache/{job.model}-{job.quant}.bin",
            }
        )

    @hookimpl
    def pocketbench_run(
        self, job: Job, device: Device, prepared: Prepared, index: int
    ) -> ProcessResult:
        self.runs.append((job.quant, index))
        timeout = self.timeout or job.workload.timeout_s
        if self.scripts:
            script = self.scripts[min(index, len(self.scripts) - 1)]
            return device.run([sys.executable, "-c", script], timeout=timeout)
        if job.quant == self.fail_quant and index == 1:
            return device.run([sys.executable, "-c", "import sys; sys.exit('crashed')"], timeout=30)
        p, g = self.speeds[job.quant]
        w = job.workload
        # The jitter depends on the run index only: equal speeds give equal samples.
        argv = [sys.executable, "-c", CHILD, str(p), str(g), f"{self.name}/{index}"]
        return device.run([*argv, str(w.prompt_tokens), str(w.gen_tokens)], timeout=timeout)

    @hookimpl
    def pocketbench_parse(self, job: Job, prepared: Prepared, result: ProcessResult) -> Metrics:
        return parse_timings(result.stdout)


def _label(scheme: str) -> str:
    """How llama.cpp-like names are shown ("Q4_K_M"); others capitalised."""
    return scheme.upper() if re.fullmatch(r"q\d.*", scheme) else scheme.capitalize()


def parse_timings(text: str) -> Metrics:
    """Metrics from the child's two timing lines (G generated tokens, G decode steps here)."""
    p, g = _PROMPT.search(text), _EVAL.search(text)
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


def registry_with(*backends: Any, reporters: bool = True) -> Any:
    """A registry holding ``backends`` (objects with a ``name``) and the shipped reporters."""
    from pocketbench.core.engine.plugins import BACKENDS, REPORTERS, Registry

    reg = Registry(warn=lambda message: None)
    for backend in backends:
        reg.add(BACKENDS, backend.name, backend)
    if reporters:
        shipped = Registry.from_entry_points(third_party=False, warn=lambda message: None)
        reg.sources[REPORTERS] = shipped.sources[REPORTERS]
    return reg


class WarmingBackend(FakeBackend):
    """A fake backend on a device that warms up: every run is slower than the one before.

    Each execution (warm-ups included, whatever the configuration) is
    ``slowdown_pct`` percent slower than the last, on top of each scheme's
    speeds, so the true ratio between two schemes is the ratio of their
    given speeds, and a study run in sequence measures its later schemes on
    a slower device.
    """

    def __init__(
        self,
        name: str = "warming",
        schemes: Mapping[str, tuple[float, float]] | None = None,
        *,
        slowdown_pct: float = 5.0,
    ) -> None:
        super().__init__(name, schemes)
        self.slowdown_pct = slowdown_pct

    def true_ratio(self, a: str, b: str, metric: str = "generation_tps") -> float:
        """The ratio a / b the device would show if it did not warm up."""
        i = 0 if metric == "prompt_tps" else 1
        return self.speeds[a][i] / self.speeds[b][i]

    @hookimpl
    def pocketbench_run(
        self, job: Job, device: Device, prepared: Prepared, index: int
    ) -> ProcessResult:
        slower = (1 + self.slowdown_pct / 100) ** len(self.runs)
        self.runs.append((job.quant, index))
        p, g = self.speeds[job.quant]
        w = job.workload
        argv = [sys.executable, "-c", CHILD, str(p / slower), str(g / slower)]
        seed = f"{self.name}/{job.quant}/{len(self.runs)}"
        return device.run(
            [*argv, seed, str(w.prompt_tokens), str(w.gen_tokens)], timeout=w.timeout_s
        )
