"""Core placement and energy sampling around every execution, as hook wrappers.

Before ``prepare`` the device checks it can honour the job's placement and
energy request (``taskset`` present and obeyed, a readable battery current,
not charging): a job it cannot honour fails in one line before anything is
built, pushed or stored.  Around every execution the device pins and
samples the runtime, and what it recorded (the cores the process was
allowed, the energy) is stored with the run.  Backends need no code for
this; a backend may add its runtime's own placement flags (llama.cpp's
``--cpu-mask``) from :attr:`Workload.cores`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import attrs

from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.devices.base import RunSetup

if TYPE_CHECKING:
    from pocketbench.core.api.model import Job, Prepared, RunRecord
    from pocketbench.core.devices.base import Device

_log = logging.getLogger("pocketbench.placement")


def setup_of(job: Job) -> RunSetup:
    return RunSetup(cores=tuple(job.workload.cores), energy=job.energy)


class Placement:
    """Checks, applies and records ``--cores`` and ``--energy`` for every job."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or _log.warning

    @hookimpl(wrapper=True)
    def pocketbench_prepare(self, job: Job, device: Device) -> Generator[None, Prepared, Prepared]:
        for note in device.check_setup(setup_of(job)):
            self.echo(note)
        return (yield)

    @hookimpl(wrapper=True)
    def pocketbench_execute(
        self, job: Job, device: Device, prepared: Prepared, index: int, warmup: bool
    ) -> Generator[None, RunRecord, RunRecord]:
        setup = setup_of(job)
        if not setup.active:
            return (yield)
        device.use_setup(setup)
        try:
            record = yield
            trace = device.take_trace(record.result.argv) if record is not None else None
        finally:
            device.use_setup(RunSetup())
        if record is None:
            return record
        energy = trace.energy if trace is not None else None
        if energy is not None and energy.problem and not warmup:
            what = f"run {index + 1}"
            self.echo(f"{device.name}: {what}: energy not counted: {energy.problem}")
        return attrs.evolve(record, trace=trace)
