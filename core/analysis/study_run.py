"""Running a study: every configuration planned, measured (resuming), and collected.

The jobs come from the same planner as ``bench run``
(:mod:`pocketbench.core.engine.plan`), one request per framework, so a
scheme or option is checked, and a default applied, exactly as on the
command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from pocketbench.core.engine.pool import PoolRun, Targets, run_targets
from pocketbench.core.engine.room import NoRoom
from pocketbench.core.engine.rounds import Design, check_order, resolve_design
from pocketbench.core.engine.runner import JobOutcome, Runner, StopRule
from pocketbench.core.kit.status import Echo
from pocketbench.core.results.store import Store


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
    """Every framework's schemes, options and models checked, before any device opens.

    One request per framework, at the first depth; every other depth of
    ``workload.prompt_tokens`` is checked too (a model's context length).
    """
    w = study.workload
    out = []
    for i, fw in enumerate(study.framework):
        request = Request(
            backend=fw.backend,
            quants=list(fw.quants),
            models=list(study.models),
            options=dict(fw.options),
            prompt_tokens=w.depths[0],
            gen_tokens=w.gen_tokens,
            threads=w.threads,
            prompt=w.prompt,
            timeout_s=w.timeout_s,
            runs=study.runs,
            warmup=study.warmup,
            where=f"framework[{i}]",
            energy=study.energy,
        )
        for depth in w.depths[1:]:
            check_request(registry, attrs.evolve(request, prompt_tokens=depth))
        out.append(check_request(registry, request))
    return out


def study_configs(
    study: Study, checked: Sequence[CheckedRequest], devices: Mapping[str, Device]
) -> list[StudyConfig]:
    """Every configuration of the study on ``devices`` (the study's own labels first)."""
    out = []
    placements: list[str | None] = list(study.cores) or [None]
    for fw, request in zip(study.framework, checked):
        for planned in (
            p
            for depth in study.workload.depths
            for cores in placements
            for p in plan_jobs(
                attrs.evolve(
                    request,
                    request=attrs.evolve(request.request, cores=cores, prompt_tokens=depth),
                ),
                devices,
            )
        ):
            label = fw.labels.get(planned.asked) or planned.scheme.display
            out.append(
                StudyConfig(job=planned.job, framework=fw, quant=planned.asked, quant_label=label)
            )
    return out


def _stored_names(study: Study, store: Store) -> list[str]:
    """The study's devices as its campaign stored them: a replicated pool or a host is its phones."""
    from pocketbench.core.devices.lab import HostSpec, PoolSpec, parse_lab_spec
    from pocketbench.core.results.phones import phone_runs

    known = {c["name"] for c in store.campaigns()}
    stored = phone_runs(store, study.name or "") if study.name in known else []
    names: list[str] = []
    for spec in study.devices:
        parsed = parse_lab_spec(spec)
        phones: list[str] = []
        if isinstance(parsed, HostSpec):
            phones = [r.phone for r in stored if r.phone.startswith(f"adb://{parsed.server}/")]
        elif isinstance(parsed, PoolSpec) and study.lab.spread == "replicate":
            phones = [r.phone for r in stored if r.model == parsed.model]
        names += sorted(set(phones)) or [spec]
    return list(dict.fromkeys(names))


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
    #: The scheduler's account (wall time, each phone's idle time); None when nothing ran.
    pool: PoolRun | None = None
    #: The order and seed the campaign was measured with (None: stored before designs).
    design: Design | None = None

    @property
    def failed_runs(self) -> int:
        return sum(len(o.failed_runs) for o in self.outcomes)


def run_study(
    study: Study | str | Path,
    *,
    registry: Registry,
    store: Store,
    devices: Mapping[str, Device] | Targets | None = None,
    wrappers: Sequence[Any] = (),
    echo: Echo | None = None,
    command: str | None = None,
    wait: bool = True,
    bandwidth: BandwidthPolicy | None = None,
    order: str | None = None,
    force: bool = False,
    stop_rule: StopRule | None = None,
    max_runs: int | None = None,
) -> StudyResult:
    """Run (or resume) every configuration of a study, storing each run as it ends.

    ``devices`` maps device names to opened devices (``--device`` overrides
    the study's list), or is the lab's :class:`Targets` (pools of phones).  Without them nothing is measured: the study is only
    checked and what is stored is collected (to rewrite the findings).  The
    campaign is the study's name, so a second call measures only what is
    missing.
    """
    if not isinstance(study, Study):
        study = load_study(study)
    assert study.name is not None
    say = echo or (lambda message: None)
    checked = check_study(study, registry)
    stored = Design.from_json(store.campaign_design(study.name))
    if devices is None:
        unopened: dict[str, Any] = {name: _Unopened(name) for name in _stored_names(study, store)}
        configs = study_configs(study, checked, unopened)
        return StudyResult(
            study=study,
            campaign=study.name,
            configs=tuple(configs),
            outcomes=(),
            errors=(),
            design=stored,
        )
    if order is not None:
        check_order(order, "--order")
    if stored is None and study.name in {c["name"] for c in store.campaigns()}:
        # Stored before campaigns kept a design: its runs were made in sequence.
        stored = Design(order="sequential", seed=study.seed or 0)
    design = resolve_design(
        stored,
        order=order or study.order,
        seed=study.seed,
        asked=order is not None,
        force=force,
        campaign=study.name,
    )
    if stored is not None and design.order != stored.order:
        say(f"campaign {study.name} was run in {stored.order} order; continuing {design.order}")
    elif stored is not None and (order or study.order) != stored.order:
        say(
            f"note: campaign {study.name} was begun in {stored.order} order; it continues so"
            " (a new study name starts a campaign in the file's order)"
        )
    targets = devices if isinstance(devices, Targets) else Targets.single(devices)
    configs = study_configs(study, checked, targets.devices)
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
    campaign = store.campaign(study.name, command=command, design=design.to_json())
    runner = Runner(
        registry=registry,
        store=store,
        campaign=campaign,
        wrappers=wrappers,
        quality=quality,
        wait=wait,
        stop_rule=stop_rule,
        max_runs=max_runs,
        warmup_per_round=study.warmup_per_round,
        command=command or "",
        # Every configuration of a study gets its MBU; the probe runs once per device.
        bandwidth=bandwidth if bandwidth is not None else BandwidthPolicy(echo=say),
    )
    errors: list[str] = []
    said: list[PocketbenchError] = []

    def on_error(job: Job, exc: PocketbenchError) -> None:
        # A phone without room for all its configurations is said once, for the phone.
        whose = (
            ""
            if isinstance(exc, NoRoom)
            else f"{job.backend} {job.quant} {job.model} on {job.device}: "
        )
        line = f"{whose}{exc}"
        errors.append(line)
        if not any(e is exc for e in said):
            said.append(exc)
            say(f"error: {line}")

    pool = run_targets(runner, [c.job for c in configs], targets, on_error, say, design)
    try:
        runner.probe_at_end()  # the start's figure is each job's own; this is the end's
    except PocketbenchError as exc:
        say(f"note: the bandwidth probe at the study's end failed: {exc}")
    outcomes = pool.outcomes
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
        pool=pool,
        design=design,
    )
