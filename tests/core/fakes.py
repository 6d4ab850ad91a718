"""In-process backends for core tests: real child processes, scripted output."""

from __future__ import annotations

import sys

from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.hookspecs import hookimpl
from pocketbench.core.api.model import BackendInfo, Metrics, Prepared, QuantScheme

GOOD = "import time; time.sleep(0.01); print('prompt 8 0.01'); print('gen 16 0.04')"


class ScriptBackend:
    """Each run executes ``scripts[index]`` (or the last one) with ``python -c``."""

    def __init__(self, *scripts: str, timeout: float | None = None) -> None:
        self.scripts = scripts or (GOOD,)
        self.timeout = timeout
        self.prepared = 0

    @hookimpl
    def pocketbench_backend_info(self):
        return BackendInfo(
            description="scripted test backend",
            version="1",
            schemes=(
                QuantScheme(name="baseline", description="as is"),
                QuantScheme(name="q4", description="pretend 4-bit", aliases=("int4",)),
            ),
        )

    @hookimpl
    def pocketbench_prepare(self, job, device):
        self.prepared += 1
        return Prepared(describe={"tool": "python"})

    @hookimpl
    def pocketbench_run(self, job, device, prepared, index):
        script = self.scripts[min(index, len(self.scripts) - 1)]
        timeout = self.timeout or job.workload.timeout_s
        return device.run([sys.executable, "-c", script], timeout=timeout)

    @hookimpl
    def pocketbench_parse(self, job, prepared, result):
        vals = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("prompt", "gen"):
                vals[parts[0]] = (int(parts[1]), float(parts[2]))
        if set(vals) != {"prompt", "gen"}:
            raise ParseError("no 'prompt' and 'gen' lines")
        (pn, ps), (gn, gs) = vals["prompt"], vals["gen"]
        return Metrics(
            prompt_tokens=pn,
            gen_tokens=gn,
            prompt_tps=pn / ps,
            generation_tps=gn / gs,
            total_tps=Metrics.total_rate(pn, gn, ps, gs),
        )
