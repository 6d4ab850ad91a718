"""Running a study: every configuration planned, measured (resuming), and collected.

The jobs come from the same planner as ``bench run``
(:mod:`pocketbench.core.engine.plan`), one request per framework, so a
scheme or option is checked, and a default applied, exactly as on the
command line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from pocketbench.core.analysis.study import Framework, Study, load_study
from pocketbench.core.api.errors import PocketbenchError
from pocketbench.core.api.model import Job
from pocketbench.core.devices.base import Device
from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.core.engine.plan import CheckedRequest, Request, check_request, plan_jobs
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.engine.runner import JobOutcome, Runner, run_on_devices
from pocketbench.core.results.store import Store

Echo = Callable[[str], None]


@frozen(kw_only=True)
class StudyConfig:
    """One configuration of a study, with the names the findings document uses."""

    job: Job
    framework: Framework
    quant: str  # as written in the study file
    quant_label: str

    @property
    def is_baseline(self) -> bool:
        return self.quant == self.framework.baseline_quant


def check_study(study: Study, registry: Registry) -> list[CheckedRequest]:
    """Every framework's schemes, options and models checked, before any device opens."""
    w = study.workload
    return [
        check_request(
            registry,
            Request(
                backend=fw.backend,
                quants=list(fw.quants),
                models=list(study.models),
                options=dict(fw.options),
                prompt_tokens=w.prompt_tokens,
                gen_tokens=w.gen_tokens,
                threads=w.threads,
                prompt=w.prompt,
                timeout_s=w.timeout_s,
                runs=study.runs,
                warmup=study.warmup,
                where=f"framework[{i}]",
                energy=study.energy,
            ),
        )
        for i, fw in enumerate(study.framework)
    ]


def study_configs(
    study: Study, checked: Sequence[CheckedRequest], devices: Mapping[str, Device]
) -> list[StudyConfig]:
    """Every configuration of the study on ``devices`` (the study's own labels first)."""
    out = []
    placements: list[str | None] = list(study.cores) or [None]
    for fw, request in zip(study.framework, checked):
        for planned in (
            p
            for cores in placements
            for p in plan_jobs(
                attrs.evolve(request, request=attrs.evolve(request.request, cores=cores)),
                devices,
            )
        ):
            label = fw.labels.get(planned.asked) or planned.scheme.display
            out.append(
                StudyConfig(job=planned.job, framework=fw, quant=planned.asked, quant_label=label)
            )
    return out


class _Unopened:
    """A device named by the study but not opened (findings rewritten from the store)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def facts(self) -> Any:
        from pocketbench.core.api.model import DeviceFacts

        return DeviceFacts(name=self.name, kind="unknown")


@frozen(kw_only=True)
class StudyResult:
    """What :func:`run_study` did; the findings are written from the store."""

    study: Study
    campaign: str
    configs: tuple[StudyConfig, ...]
    outcomes: tuple[JobOutcome, ...]
    errors: tuple[str, ...]

    @property
    def failed_runs(self) -> int:
        return sum(len(o.failed_runs) for o in self.outcomes)


def run_study(
    study: Study | str | Path,
    *,
    registry: Registry,
    store: Store,
    devices: Mapping[str, Device] | None = None,
    wrappers: Sequence[Any] = (),
    echo: Echo | None = None,
    command: str | None = None,
    wait: bool = True,
    bandwidth: BandwidthPolicy | None = None,
) -> StudyResult:
    """Run (or resume) every configuration of a study, storing each run as it ends.

    ``devices`` maps device names to opened devices (``--device`` overrides
    the study's list).  Without them nothing is measured: the study is only
    checked and what is stored is collected (to rewrite the findings).  The
    campaign is the study's name, so a second call measures only what is
    missing.
    """
    if not isinstance(study, Study):
        study = load_study(study)
    assert study.name is not None
    say = echo or (lambda message: None)
    checked = check_study(study, registry)
    if devices is None:
        unopened: dict[str, Any] = {name: _Unopened(name) for name in study.devices}
        configs = study_configs(study, checked, unopened)
        return StudyResult(
            study=study, campaign=study.name, configs=tuple(configs), outcomes=(), errors=()
        )
    configs = study_configs(study, checked, devices)
    quality = None
    if study.quality:  # checked (and the text fetched) before anything is measured
        from pocketbench.core.engine.quality import make_plan

        quality = make_plan(
            models=list(study.models),
            eval_text=study.eval_text,
            ctx=study.quality_ctx,
            chunks=study.quality_chunks,
            reference=study.quality_reference,
            baselines={fw.backend: fw.baseline_quant for fw in study.framework},
        )
    campaign = store.campaign(study.name, command=command)
    runner = Runner(
        registry=registry,
        store=store,
        campaign=campaign,
        wrappers=wrappers,
        quality=quality,
        wait=wait,
        command=command or "",
        # Every configuration of a study gets its MBU; the probe runs once per device.
        bandwidth=bandwidth if bandwidth is not None else BandwidthPolicy(echo=say),
    )
    errors: list[str] = []

    def on_error(job: Job, exc: PocketbenchError) -> None:
        line = f"{job.backend} {job.quant} {job.model} on {job.device}: {exc}"
        errors.append(line)
        say(f"error: {line}")

    outcomes = run_on_devices(runner, [c.job for c in configs], dict(devices), on_error)
    for o in outcomes:
        if o.already_stored and not o.records:
            say(
                f"{o.job.backend} {o.job.quant} {o.job.model} on {o.job.device}:"
                f" {o.already_stored} runs already stored in campaign {campaign},"
                " not measured again"
            )
    return StudyResult(
        study=study,
        campaign=campaign,
        configs=tuple(configs),
        outcomes=tuple(outcomes),
        errors=tuple(errors),
    )
