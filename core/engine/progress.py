"""Progress display: a hook wrapper, so no backend prints its own progress."""

from __future__ import annotations

from typing import Any

from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import Job, Prepared, RunRecord
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.status import Echo


class Progress:
    """Prints one line per execution: which run, its rates or why it failed."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo

    @hookimpl(wrapper=True)
    def pocketbench_prepare(self, job: Job, device: Device) -> Any:
        self.echo(
            f"{job.backend} {job.quant} {job.model} on {device.name}: preparing"
            " (built runtimes and models are cached)"
        )
        return (yield)

    @hookimpl(wrapper=True)
    def pocketbench_execute(
        self, job: Job, device: Device, prepared: Prepared, index: int, warmup: bool
    ) -> Any:
        record: RunRecord = yield
        what = f"warm-up {index + 1}/{job.warmup}" if warmup else f"run {index + 1}/{job.runs}"
        label = f"{job.backend} {job.quant} {job.model} @{device.name}"
        if record.ok and record.metrics is not None:
            m = record.metrics
            self.echo(
                f"  {label} {what}: prompt {m.prompt_tps:.2f} tok/s,"
                f" generation {m.generation_tps:.2f} tok/s, total {m.total_tps:.2f} tok/s"
            )
        else:
            self.echo(f"  {label} {what}: FAILED: {record.error} (raw output stored)")
        return record
