"""Run a backend plugin in-process, exactly as ``bench run`` would, and read what was stored.

For a plugin's own tests: the job goes through the planner (scheme and
options checked), the runner (prepare, warm-ups, runs, parse) and a real
SQLite store, without a console script or an installed entry point::

    from pocketbench.testing.inprocess import measure

    config = measure(MyBackend(), "mine", tmp_path, quant="q4", runs=3)
    assert config.n_ok == 3 and config.summary("generation_tps").mean > 0

Failures behave as in ``bench``: a setup or device problem raises the
:class:`~pocketbench.plugin.PocketbenchError` the user would see; a crashed,
hung or unparseable run is stored, with its raw output, as a failed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pocketbench.core.devices.base import Device
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.plan import Request, check_request, plan_jobs
from pocketbench.core.engine.plugins import BACKENDS, Registry
from pocketbench.core.engine.runner import Runner
from pocketbench.core.results.build import configurations
from pocketbench.core.results.report import ConfigReport
from pocketbench.core.results.store import Store


def measure(
    plugin: Any,
    name: str,
    tmp_path: Path,
    *,
    quant: str | None = None,
    model: str = "tiny",
    device: Device | None = None,
    options: dict[str, str] | None = None,
    runs: int = 3,
    warmup: int = 1,
    prompt_tokens: int = 16,
    gen_tokens: int = 8,
    threads: int | None = None,
    prompt: str | None = None,
    timeout_s: float = 120.0,
) -> ConfigReport:
    """Measure one configuration of ``plugin`` (registered as ``name``); the stored result."""
    registry = Registry(warn=lambda message: None)
    registry.add(BACKENDS, name, plugin)
    request = Request(
        backend=name,
        quants=[quant],
        models=[model],
        options=options or {},
        prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens,
        threads=threads,
        prompt=prompt,
        timeout_s=timeout_s,
        runs=runs,
        warmup=warmup,
    )
    device = device or LocalDevice()
    (planned,) = plan_jobs(check_request(registry, request), {device.name: device})
    with Store.open(tmp_path / "inprocess.db") as store:
        runner = Runner(registry=registry, store=store, campaign=store.campaign(None))
        runner.run(planned.job, device)
        (config,) = (
            c
            for c in configurations(store, runner.campaign)
            if c.config_key == planned.job.config_key()
        )
    return config
