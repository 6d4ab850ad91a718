"""The job planner: from what the user asked (``bench run`` or a study) to checked jobs.

``bench run`` and ``bench study`` both come through here, so a quantization
name is checked once, defaults (threads) are applied once, a backend's
options are validated once against what it declares, and devices are opened
once.  Nothing is measured or written here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from attrs import field, frozen

from pocketbench.core.api.errors import UsageError, unknown_choice
from pocketbench.core.api.model import BackendInfo, Job, QuantScheme, Workload
from pocketbench.core.api.presets import PRESETS
from pocketbench.core.devices.base import Device
from pocketbench.core.engine.cores import place
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.kit.status import Echo

MODEL_SUFFIXES = (".gguf", ".pte", ".pth", ".bin", ".safetensors")


@frozen(kw_only=True)
class Request:
    """One backend's share of what the user asked: schemes x models on every device."""

    backend: str
    #: Scheme names as the user wrote them (None: the backend's default).
    quants: Sequence[str | None]
    models: Sequence[str]
    #: Option text as given (``-O KEY=VALUE``, a backend's own flags, a study's table).
    options: Mapping[str, str] = field(factory=dict)
    prompt_tokens: int = 64
    gen_tokens: int = 64
    #: None: the device's cores, at most :data:`MAX_DEFAULT_THREADS`.
    threads: int | None = None
    prompt: str | None = None
    timeout_s: float = 600.0
    runs: int = 8
    warmup: int = 1
    #: Where the values came from, for error lines ("framework[1]" in a study).
    where: str = ""
    #: ``--cores``: big, little, all or a LIST (None: not pinned).
    cores: str | None = None
    #: ``--energy``: sample energy during every run.
    energy: bool = False


@frozen(kw_only=True)
class PlannedJob:
    """A checked job and the scheme it measures (with its display label)."""

    job: Job
    scheme: QuantScheme
    #: The scheme as the user wrote it (a study's tables use this name).
    asked: str


@frozen(kw_only=True)
class CheckedRequest:
    """A request whose schemes, options and models were checked (no device needed yet)."""

    request: Request
    #: (as asked, canonical scheme) in the order asked.
    schemes: tuple[tuple[str, QuantScheme], ...]
    options: dict[str, str]


def check_request(registry: Registry, request: Request) -> CheckedRequest:
    """Check everything that needs no device; raises UsageError before anything opens."""
    check_values(request)
    try:
        info = registry.backend_info(request.backend)
    except UsageError as exc:
        raise _at(request, "backend", exc) from None
    schemes = tuple(
        (q or info.default_scheme, resolve_scheme(info, request, q)) for q in request.quants
    )
    options = check_options(info, request)
    for model in request.models:
        check_model(model)
        check_context(model, request)
    return CheckedRequest(request=request, schemes=schemes, options=options)


def plan_jobs(
    checked: CheckedRequest, devices: Mapping[str, Device], echo: Echo | None = None
) -> list[PlannedJob]:
    """Every job of a checked request on every device (cores and threads resolved per device)."""
    request = checked.request
    planned = []
    placed = {
        name: place(device.facts(), request.cores, request.threads, echo)
        for name, device in devices.items()
    }
    for asked, scheme in checked.schemes:
        for model in request.models:
            for name in devices:
                threads, cores = placed[name]
                workload = make_workload(request, threads)
                workload = attrs.evolve(workload, cores=cores, placement=request.cores or "")
                job = Job(
                    backend=request.backend,
                    quant=scheme.name,
                    model=model,
                    device=name,
                    workload=workload,
                    runs=request.runs,
                    warmup=request.warmup,
                    options=dict(checked.options),
                    energy=request.energy,
                )
                planned.append(PlannedJob(job=job, scheme=scheme, asked=asked))
    return planned


def check_values(request: Request) -> None:
    """Numbers and text of a request, each within its range (one line naming the key)."""
    from pocketbench.core.kit import checks

    def name(key: str) -> str:
        return f"{request.where}.{key}" if request.where else "--" + key.replace("_", "-")

    checks.integer(name("runs"), request.runs, 1, checks.MAX_RUNS)
    checks.integer(name("warmup"), request.warmup, 0, checks.MAX_RUNS)
    checks.integer(name("prompt_tokens"), request.prompt_tokens, 1, checks.MAX_TOKENS)
    checks.gen_tokens(name("gen_tokens"), request.gen_tokens)
    if request.threads is not None:
        checks.integer(name("threads"), request.threads, 1, checks.MAX_THREADS)
    checks.timeout(name("timeout"), request.timeout_s)
    if request.prompt is not None:
        checks.prompt(name("prompt"), request.prompt)
    for model in request.models:
        checks.utf8(name("model"), model)


def resolve_scheme(info: BackendInfo, request: Request, quant: str | None) -> QuantScheme:
    name = quant or info.default_scheme
    scheme = info.scheme(name)
    if scheme is None:
        where = f" for backend {request.backend!r}"
        raise _at(
            request, "quants", unknown_choice("quantization", name, info.scheme_names(), where)
        )
    return scheme


def _at(request: Request, key: str, error: UsageError) -> UsageError:
    """``error`` naming the study key it came from (``framework[1].quants: ...``)."""
    return UsageError(f"{request.where}.{key}: {error}") if request.where else error


def check_options(info: BackendInfo, request: Request) -> dict[str, str]:
    """The backend's options, each checked by its own declaration; unknown keys refused."""
    out: dict[str, str] = {}
    for key, value in request.options.items():
        option = info.option(key)
        if option is None:
            where = f" for backend {request.backend!r}"
            names = [o.name for o in info.options]
            raise _at(request, "options", unknown_choice("option", key, names, where))
        try:
            out[key] = option.validate(str(value))
        except ValueError as exc:
            shown = option.flag or f"-O {key}"
            raise UsageError(f"{shown} {value!r}: {exc}") from None
    return out


def check_model(model: str) -> None:
    """A model that looks like a path must exist (presets are the backend's business)."""
    looks_like_path = os.sep in model or model.lower().endswith(MODEL_SUFFIXES)
    if looks_like_path and not os.path.exists(model):
        presets = ", ".join(PRESETS)
        raise UsageError(
            f"model file {model} does not exist; give an existing file or a preset ({presets})"
        )


def check_context(model: str, request: Request) -> None:
    """A prompt (a depth) beyond a preset's context length is refused before anything runs."""
    spec = PRESETS.get(model)
    if spec is None or request.prompt_tokens <= spec.max_seq_len:
        return
    key = f"{request.where}.prompt_tokens" if request.where else "--prompt-tokens"
    raise UsageError(
        f"{key}: {request.prompt_tokens} tokens is beyond {model}'s context length"
        f" ({spec.max_seq_len} tokens); choose depths up to {spec.max_seq_len}"
    )


def make_workload(request: Request, threads: int) -> Workload:
    try:
        return Workload(
            prompt_tokens=request.prompt_tokens,
            gen_tokens=request.gen_tokens,
            threads=threads,
            prompt=request.prompt,
            timeout_s=request.timeout_s,
        )
    except ValueError as exc:
        raise UsageError(f"{exc}; give a positive number") from exc


def push_display(device: str, echo: Echo) -> Callable[[str, int], Callable[[int, int], None]]:
    """Progress lines for pushes to ``device``.

    A large file gets a line per quarter, a small one a line when it is sent,
    and a file the device already holds a line saying it was not sent again.
    """
    big = 16 * 2**20

    def start(name: str, size: int) -> Callable[[int, int], None]:
        shown: set[int] = set()
        mib = f"{size / 2**20:.1f} MiB"

        def progress(done: int, total: int) -> None:
            if done == total and not shown:  # complete before any transfer: already there
                echo(f"  {name}: already on {device} ({mib}), not pushed again")
                shown.add(100)
                return
            shown.add(0)
            quarter = 100 * done // total // 25 * 25 if total else 100
            if quarter in shown or (total < big and quarter < 100):
                return
            shown.add(quarter)
            echo(f"  pushing {name} to {device}: {quarter}% of {mib}")

        return progress

    return start


def make_wrappers(cooldown: str | float, echo: Echo) -> list[Any]:
    """The hook wrappers every measured job gets: device hygiene, placement, progress lines."""
    from pocketbench.core.engine.hygiene import Hygiene
    from pocketbench.core.engine.placement import Placement
    from pocketbench.core.engine.progress import Progress

    return [Hygiene(cooldown=cooldown, echo=echo), Placement(echo), Progress(echo)]
