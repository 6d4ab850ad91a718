"""Study files: a whole comparison in one TOML file, run and written up in one go.

A study lists frameworks (a backend with its own list of quantization
schemes, the first being its baseline), models and devices; every framework
x scheme x model x device is one configuration, measured with the same
workload, warm-ups and runs.  The seed study is::

    name = "seed"
    title = "Llama speed on a phone: ExecuTorch vs llama.cpp"
    models = ["llama-3.2-1b"]
    runs = 8
    warmup = 1

    [workload]
    prompt_tokens = 64
    gen_tokens = 32

    [[framework]]
    backend = "executorch"
    label = "ExecuTorch"
    quants = ["baseline", "spinquant", "qat-lora"]
    labels = { baseline = "Baseline", spinquant = "SpinQuant", qat-lora = "QAT+LoRA" }

    [[framework]]
    backend = "llamacpp"
    label = "Llama.cpp"
    quants = ["baseline", "q8_0", "q4_0"]

The study's ``name`` is its campaign in the store, so running it again
resumes: configurations already measured are not measured again.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import attrs
from attrs import define, field, frozen

from pocketbench.core.api.errors import PocketbenchError, UsageError
from pocketbench.core.api.model import Job, Workload
from pocketbench.core.devices.base import Device
from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.engine.runner import JobOutcome, Runner, run_on_devices
from pocketbench.core.results.store import Store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Echo = Callable[[str], None]


# -- the file's schema ------------------------------------------------------------


@define(kw_only=True)
class StudyWorkload:
    """The workload every configuration runs (matched across frameworks)."""

    prompt_tokens: int = 64
    gen_tokens: int = 64
    #: None: the device's cores, at most 4 (the same for every framework on a device).
    threads: int | None = None
    prompt: str | None = None
    timeout_s: float = 600.0


@define(kw_only=True)
class Framework:
    """One backend and the schemes compared within it."""

    backend: str
    #: Quantization schemes; the first is the baseline unless ``baseline`` says otherwise.
    quants: list[str]
    #: Display name (default: the backend's name).
    label: str | None = None
    baseline: str | None = None
    #: Display names of schemes, e.g. { "qat-lora" = "QAT+LoRA" }.
    labels: dict[str, str] = field(factory=dict)
    #: Backend options, as ``bench run -O KEY=VALUE``.
    options: dict[str, str] = field(factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.backend

    @property
    def baseline_quant(self) -> str:
        return self.baseline or self.quants[0]

    def quant_label(self, quant: str) -> str:
        return self.labels.get(quant) or _default_quant_label(quant)


@define(kw_only=True)
class Study:
    """A comparison: frameworks x their schemes x models x devices."""

    framework: list[Framework]
    models: list[str]
    #: Campaign name in the store (default: the file's stem).
    name: str | None = None
    title: str | None = None
    #: Free text for the findings document's preface.
    description: str = ""
    devices: list[str] = field(factory=lambda: ["local"])
    runs: int = 8
    warmup: int = 1
    workload: StudyWorkload = field(factory=StudyWorkload)
    #: Significance level and multiple-comparison correction of the conclusions.
    alpha: float = 0.05
    correction: str = "holm"

    @property
    def frameworks(self) -> list[Framework]:
        return self.framework

    @property
    def display_title(self) -> str:
        return self.title or f"Findings: {self.name}"


for _cls in (StudyWorkload, Framework, Study):
    attrs.resolve_types(_cls)


def _default_quant_label(quant: str) -> str:
    known = {"baseline": "Baseline", "spinquant": "SpinQuant", "qat-lora": "QAT+LoRA"}
    return known.get(quant, quant.upper() if re.fullmatch(r"[qQ]\d.*", quant) else quant)


# -- reading ----------------------------------------------------------------------

_CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")


def load_study(path: str | Path) -> Study:
    """Read and check a study file; any mistake is one line naming the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"study file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read study file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"study file {path} is not valid TOML: {exc}") from None
    return parse_study(data, source=str(path), default_name=path.stem)


def parse_study(
    data: Mapping[str, Any], *, source: str = "study", default_name: str = "study"
) -> Study:
    import cattrs

    try:
        study = _converter().structure(dict(data), Study)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="", format_exception=_format_exception)
        raise UsageError(f"{source}: {_describe(messages[0])}") from None
    if study.name is None:
        study.name = default_name
    _check(study, source)
    return study


def _check(study: Study, source: str) -> None:
    def fail(key: str, message: str) -> UsageError:
        return UsageError(f"{source}: {key}: {message}")

    if not study.name or not study.name.strip():
        raise fail("name", "must not be empty")
    if not study.framework:
        raise fail("framework", "list at least one [[framework]]")
    if not study.models:
        raise fail("models", "list at least one model (a preset such as tiny, or a file)")
    if not study.devices:
        raise fail("devices", "list at least one device (local, adb, adb:SERIAL)")
    for key, value, low in (
        ("runs", study.runs, 1),
        ("warmup", study.warmup, 0),
        ("workload.prompt_tokens", study.workload.prompt_tokens, 1),
        ("workload.gen_tokens", study.workload.gen_tokens, 1),
    ):
        if value < low:
            raise fail(key, f"must be at least {low}, got {value}")
    if study.workload.threads is not None and study.workload.threads < 1:
        raise fail("workload.threads", f"must be at least 1, got {study.workload.threads}")
    if study.workload.timeout_s <= 0:
        raise fail("workload.timeout_s", "must be positive")
    if not 0 < study.alpha < 1:
        raise fail("alpha", f"must be between 0 and 1, got {study.alpha}")
    if study.correction not in _CORRECTIONS:
        raise fail(
            "correction", f"unknown {study.correction!r}; choose one of: {', '.join(_CORRECTIONS)}"
        )
    seen: dict[str, int] = {}
    for i, fw in enumerate(study.framework):
        where = f"framework[{i}]"
        if not fw.quants:
            raise fail(f"{where}.quants", "list at least one quantization scheme")
        if len(set(fw.quants)) != len(fw.quants):
            raise fail(f"{where}.quants", "lists a scheme twice")
        if fw.baseline is not None and fw.baseline not in fw.quants:
            raise fail(
                f"{where}.baseline", f"{fw.baseline!r} is not in quants ({', '.join(fw.quants)})"
            )
        unknown = sorted(set(fw.labels) - set(fw.quants))
        if unknown:
            raise fail(
                f"{where}.labels", f"{', '.join(unknown)} not in quants ({', '.join(fw.quants)})"
            )
        if fw.name in seen:
            raise fail(
                f"{where}.label",
                f"{fw.name!r} is used by framework[{seen[fw.name]}] too;"
                " give each framework its own label",
            )
        seen[fw.name] = i


class _BadValue(TypeError):
    """A value of the wrong type (the message names what was expected)."""


def _type_name(t: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        t, str(t)
    )


@functools.cache
def _converter() -> Any:
    """The project's converter, made strict: TOML has types, a study must use them."""
    from cattrs.cols import list_structure_factory, mapping_structure_factory

    from pocketbench.core.api.convert import converter

    c = converter().copy()

    def scalar(t: type) -> Callable[[Any, Any], Any]:
        def hook(value: Any, _: Any) -> Any:
            ok = isinstance(value, t) and not (t is not bool and isinstance(value, bool))
            if t is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            if not ok:
                raise _BadValue(f"expected {_type_name(t)}, got {value!r}")
            return value

        return hook

    for t in (int, float, str, bool):
        c.register_structure_hook(t, scalar(t))

    def checked(kind: type, expected: str, make_inner: Callable[[Any, Any], Any]) -> Any:
        """A hook factory: refuse values that are not ``kind``, else structure as usual."""

        def factory(t: Any, conv: Any) -> Any:
            inner = make_inner(t, conv)

            def hook(value: Any, type_: Any) -> Any:
                if not isinstance(value, kind):
                    raise _BadValue(f"expected {expected}, got {value!r}")
                return inner(value, type_)

            return hook

        return factory

    from cattrs.gen import make_dict_structure_fn

    lists = checked(list, "a list", list_structure_factory)
    mappings = checked(dict, "a table", mapping_structure_factory)
    tables = checked(dict, "a table", make_dict_structure_fn)

    c.register_structure_hook_factory(lambda t: get_origin(t) is list, lists)
    c.register_structure_hook_factory(lambda t: get_origin(t) is dict, mappings)
    c.register_structure_hook_factory(attrs.has, tables)
    return c


def _format_exception(exc: BaseException, type_: Any) -> str:
    import cattrs

    if isinstance(exc, _BadValue):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return "unknown key " + ", ".join(repr(k) for k in sorted(exc.extra_fields))
    if isinstance(exc, KeyError):
        return "required key missing"
    from cattrs.v import format_exception

    return format_exception(exc, type_)


def _describe(message: str) -> str:
    """``unknown key 'runz' @ `` -> ``unknown key 'runz' at the top level; valid keys: ...``."""
    text, _, path = message.rpartition(" @ ")
    path = path.lstrip(".")
    if text.startswith("unknown key"):
        where = f"in {path}" if path else "at the top level"
        valid = _valid_keys(path)
        return f"{text} {where}" + (f"; valid keys: {', '.join(valid)}" if valid else "")
    if text == "required key missing":
        return f"{path}: required key missing"
    return f"{path}: {text}" if path else text


def _valid_keys(path: str) -> list[str]:
    """The keys allowed where ``path`` (``framework[0]``, ``workload``) points."""
    cls: Any = Study
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            args = get_args(cls)
            cls = args[0] if args else None
        elif attrs.has(cls) and part in attrs.fields_dict(cls):
            cls = attrs.fields_dict(cls)[part].type
        else:
            return []
    return sorted(attrs.fields_dict(cls)) if attrs.has(cls) else []


# -- configurations -----------------------------------------------------------------


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


def study_configs(
    study: Study,
    registry: Registry,
    devices: Mapping[str, Device] | None = None,
    device_names: Sequence[str] | None = None,
) -> list[StudyConfig]:
    """Every configuration of the study, quantization names checked and made canonical.

    ``devices`` (name -> opened device) decides the thread count when the
    study leaves it open; without devices, ``device_names`` are used as they are.
    """
    names = list(devices) if devices is not None else list(device_names or study.devices)
    out = []
    for i, fw in enumerate(study.framework):
        try:
            info = registry.backend_info(fw.backend)
        except UsageError as exc:
            raise UsageError(f"framework[{i}].backend: {exc}") from None
        for quant in fw.quants:
            scheme = info.scheme(quant)
            if scheme is None:
                raise UsageError(
                    f"framework[{i}].quants: unknown quantization {quant!r} for backend"
                    f" {fw.backend!r}. Choose one of: {', '.join(info.scheme_names())}."
                )
            for model in study.models:
                for name in names:
                    threads = study.workload.threads
                    if threads is None:
                        cores = devices[name].facts().cores if devices is not None else 0
                        threads = max(1, min(4, cores or 1))
                    w = study.workload
                    job = Job(
                        backend=fw.backend,
                        quant=scheme.name,
                        model=model,
                        device=name,
                        workload=Workload(
                            prompt_tokens=w.prompt_tokens,
                            gen_tokens=w.gen_tokens,
                            threads=threads,
                            prompt=w.prompt,
                            timeout_s=w.timeout_s,
                        ),
                        runs=study.runs,
                        warmup=study.warmup,
                        options=dict(fw.options),
                    )
                    out.append(
                        StudyConfig(
                            job=job, framework=fw, quant=quant, quant_label=fw.quant_label(quant)
                        )
                    )
    return out


# -- running ------------------------------------------------------------------------


@frozen(kw_only=True)
class StudyResult:
    """What :func:`run_study` did, and the findings written from the store."""

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
    measure: bool = True,
    bandwidth: BandwidthPolicy | None = None,
) -> StudyResult:
    """Run (or resume) every configuration of a study, storing each run as it ends.

    ``devices`` maps device names to opened devices (``--device`` overrides
    the study's list); without it the study's devices are opened here and
    closed afterwards.  The campaign is the study's name, so a second call
    measures only what is missing.  ``measure=False`` only checks the study
    and collects what is stored (to rewrite the findings).
    """
    if not isinstance(study, Study):
        study = load_study(study)
    say = echo or (lambda message: None)
    opened: dict[str, Device] = {}
    if devices is None and measure:
        from pocketbench.core.devices import open_device

        for spec in study.devices:
            device = open_device(spec)
            opened[device.name] = device
        devices = opened
    try:
        configs = study_configs(study, registry, devices if measure else None)
        assert study.name is not None
        errors: list[str] = []
        outcomes: list[JobOutcome] = []
        if measure:
            campaign = store.campaign(study.name, command=command)
            runner = Runner(
                registry=registry,
                store=store,
                campaign=campaign,
                wrappers=wrappers,
                bandwidth=bandwidth if bandwidth is not None else BandwidthPolicy(echo=say),
            )

            def on_error(job: Job, exc: PocketbenchError) -> None:
                line = f"{job.backend} {job.quant} {job.model} on {job.device}: {exc}"
                errors.append(line)
                say(f"error: {line}")

            assert devices is not None
            outcomes = run_on_devices(runner, [c.job for c in configs], dict(devices), on_error)
            for o in outcomes:
                if o.already_stored and not o.records:
                    say(
                        f"{o.job.backend} {o.job.quant} {o.job.model} on {o.job.device}:"
                        f" {o.already_stored} runs already stored in campaign {campaign}, not measured again"
                    )
        else:
            campaign = study.name
        return StudyResult(
            study=study,
            campaign=campaign,
            configs=tuple(configs),
            outcomes=tuple(outcomes),
            errors=tuple(errors),
        )
    finally:
        for device in opened.values():
            device.close()
