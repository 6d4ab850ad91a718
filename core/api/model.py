"""The data model: what a job asks for and what a run produced.

Configuration classes are ``define(kw_only=True)``; results are ``frozen``.
Nothing here knows a runner's output format: parsers are named constructors
in the backends (``Metrics`` is built by them), and (de)serialisation goes
through the one converter in :mod:`pocketbench.core.kit.convert`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field, frozen

from pocketbench.core.api.power import RunTrace
from pocketbench.core.api.tokentimes import TokenLatency


def _positive(instance: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value}")


@frozen(kw_only=True)
class Workload:
    """The measured work, matched across backends.

    ``prompt_tokens`` tokens of prompt are evaluated, then exactly
    ``gen_tokens`` new tokens are generated (end of sequence ignored) with
    ``threads`` threads.  ``prompt`` is optional user text; when it is given,
    backends make a prompt of exactly ``prompt_tokens`` tokens from it.
    """

    prompt_tokens: int = field(default=64, validator=_positive)
    gen_tokens: int = field(default=64, validator=_positive)
    threads: int = field(default=2, validator=_positive)
    prompt: str | None = None
    #: Wall-clock limit of one run, seconds.
    timeout_s: float = 600.0
    #: The cores the runtime is pinned to (empty: not pinned; the OS decides).
    cores: tuple[int, ...] = ()
    #: How the cores were asked for (``big``, ``little``, ``all``, ``4-7``); shown in reports.
    placement: str = ""


@frozen(kw_only=True)
class QuantScheme:
    """A quantization scheme a backend offers (``bench plugins`` lists them)."""

    name: str
    description: str
    #: How the scheme is produced, e.g. "llama-quantize IN OUT Q4_0".
    produced_by: str = ""
    aliases: tuple[str, ...] = ()
    #: How reports name it ("SpinQuant", "Q4\\_0" is escaped by the reporter); default: ``name``.
    label: str = ""

    @property
    def display(self) -> str:
        return self.label or self.name


@frozen(kw_only=True)
class OptionInfo:
    """An option a backend takes: ``-O NAME=VALUE``, or its own ``flag`` on ``bench run``.

    Options are part of a configuration's identity (two option sets are two
    configurations).  ``check`` turns the text the user gave into the value
    stored in :attr:`Job.options`, or raises ``ValueError`` with a message
    that says what is wrong; it runs before anything is measured.
    """

    name: str
    help: str
    #: A dedicated command-line flag, e.g. "--my-runtime-bin" (always also ``-O name=...``).
    flag: str | None = None
    #: A switch without a value (stored as "1" when given).
    is_flag: bool = False
    #: The allowed values, when the option is a choice.
    choices: tuple[str, ...] = ()
    check: Callable[[str], str] | None = None

    def validate(self, value: str) -> str:
        if self.choices and value not in self.choices:
            raise ValueError(f"use one of: {', '.join(self.choices)}")
        return self.check(value) if self.check is not None else value


@frozen(kw_only=True)
class MetricInfo:
    """A figure a backend adds to :attr:`Metrics.extra`, rendered by every reporter."""

    name: str
    label: str
    #: "tokens/s", "ms", ... (shown after the label).
    unit: str = ""
    #: One sentence a report prints under its tables.
    note: str = ""


@frozen(kw_only=True)
class BackendInfo:
    """What a backend plugin declares about itself."""

    description: str
    version: str
    schemes: tuple[QuantScheme, ...]
    #: The scheme used when the user gives no ``--quant``.
    default_scheme: str = "baseline"
    #: Options the backend takes (``bench plugins`` and ``bench run --help`` list them).
    options: tuple[OptionInfo, ...] = ()
    #: Figures the backend adds to :attr:`Metrics.extra`, with their labels.
    metrics: tuple[MetricInfo, ...] = ()
    #: File formats its ``pocketbench_import`` reads (``bench import --help`` lists them).
    imports: tuple[str, ...] = ()

    def scheme(self, name: str) -> QuantScheme | None:
        key = name.lower()
        for s in self.schemes:
            if s.name == key or key in s.aliases:
                return s
        return None

    def scheme_names(self) -> list[str]:
        return [s.name for s in self.schemes]

    def option(self, name: str) -> OptionInfo | None:
        return next((o for o in self.options if o.name == name), None)


@frozen(kw_only=True)
class ReporterInfo:
    """What a reporter plugin declares about itself."""

    description: str
    #: File name extension of its output, without the dot.
    extension: str


@define(kw_only=True)
class Job:
    """One configuration to measure: backend x quant x model x device x workload."""

    backend: str
    quant: str
    model: str
    device: str = "local"
    workload: Workload = field(factory=Workload)
    runs: int = field(default=8, validator=_positive)
    warmup: int = field(default=1, validator=_non_negative)
    #: The backend's options (its :attr:`BackendInfo.options`), checked by the planner.
    options: dict[str, str] = field(factory=dict)
    #: Sample energy during every run (``--energy``); not part of the identity:
    #: the sampler's cost is below run-to-run noise (docs/performance.md).
    energy: bool = False

    #: The configuration's key, computed once (:meth:`config_key`).
    _key: str = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        # A job is never changed after it is made (attrs.evolve makes a new one), and
        # the runner, the store, the lease and the claims all ask for its key.
        self._key = self._make_key()

    def config_key(self) -> str:
        """Identifies the configuration in the store (resume, grouping)."""
        return self._key

    def _make_key(self) -> str:
        w = self.workload
        prompt = "" if w.prompt is None else f"|prompt={hash_text(w.prompt)}"
        # Options can change what is measured (another build, another export):
        # two option sets are two configurations, never pooled.
        opts = ""
        if self.options:
            opts = "|opts=" + hash_text(repr(sorted(self.options.items())))
        # Pinned cores are part of what is measured; unpinned keys stay as they were.
        cores = f"|cores={sum(1 << c for c in w.cores):x}" if w.cores else ""
        return (
            f"{self.backend}|{self.quant}|{self.model}|{self.device}|"
            f"p{w.prompt_tokens}|g{w.gen_tokens}|t{w.threads}{prompt}{opts}{cores}"
        )


def hash_text(text: str) -> str:
    """A short, stable hash of ``text`` (12 hex digits of its sha256), for keys and names."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


@frozen(kw_only=True)
class DeviceFacts:
    """What a device is; recorded with every job."""

    name: str
    kind: str  # "local" or "adb"
    model: str = ""
    manufacturer: str = ""
    soc: str = ""
    abi: str = ""
    os: str = ""
    cores: int = 0
    max_freqs_khz: tuple[int, ...] = ()
    ram_bytes: int = 0
    extra: dict[str, str] = field(factory=dict)


@frozen(kw_only=True)
class Readings:
    """Device state at one moment; taken before and after every run."""

    time: float
    temperatures_c: dict[str, float] = field(factory=dict)
    free_mem_bytes: int | None = None
    load_avg: float | None = None
    battery_level: int | None = None
    charging: bool | None = None
    #: scaling_cur_freq of every core (0: offline or unreadable), kHz.
    cur_freqs_khz: tuple[int, ...] = ()
    #: scaling_governor of every core ("" when unreadable).
    governors: tuple[str, ...] = ()
    #: Android's thermal status (0 none, 1 light, 2 moderate, 3 severe, 4 critical,
    #: 5 emergency, 6 shutdown); None where the device does not say.
    thermal_status: int | None = None

    def max_temperature(self) -> float | None:
        return max(self.temperatures_c.values()) if self.temperatures_c else None


@frozen(kw_only=True)
class ProcessResult:
    """What a device returns for one command."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    exit_code: int | None
    wall_s: float
    timed_out: bool = False
    peak_rss_bytes: int | None = None
    #: CPU time (user + system) of the process, when the device knows it.
    cpu_s: float | None = None
    #: When each piece of stdout reached the run's launcher: (milliseconds
    #: since the start, stdout bytes up to the end of that piece).  None: not
    #: captured (the device cannot, or capture was switched off).
    arrivals: tuple[tuple[float, int], ...] | None = None
    #: Why ``arrivals`` is None although they were asked for (a phone without
    #: its launcher), one line; reports say it instead of per-token figures.
    arrivals_problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0


@frozen(kw_only=True)
class Metrics:
    """What one run measured.  Rates are tokens per second.

    Every backend follows the same definitions (docs/plugins.md), so figures
    from two runtimes compare like for like:

    - a run of G new tokens has G-1 decode steps: the first new token comes
      from the prompt's logits, so it belongs to prompt evaluation;
    - ``prompt_tps`` = prompt tokens / prompt-evaluation time;
    - ``generation_tps`` = (G-1) / decode time, where decode time runs from
      the end of prompt evaluation to the last new token (sampling included);
    - ``total_tps`` = (prompt + generated tokens) / (prompt-eval + decode time),
      see :meth:`total_rate`;
    - ``ttft_ms``: from the start of inference (model loaded) to the first
      new token; ``load_ms``: loading the model, before inference;
    - ``peak_rss_bytes``: the runtime process's peak resident memory, filled
      by the core from the device when the backend leaves it None.

    A backend's own figures go in ``extra`` under names it declares in
    :attr:`BackendInfo.metrics` (ExecuTorch's "total rate", for instance).
    """

    prompt_tokens: int
    gen_tokens: int
    prompt_tps: float
    generation_tps: float
    total_tps: float
    load_ms: float | None = None
    ttft_ms: float | None = None
    peak_rss_bytes: int | None = None
    extra: dict[str, float] = field(factory=dict)
    #: Where the runtime prints them on the device's wall clock: Unix-epoch milliseconds
    #: of the start of inference, the end of prompt evaluation and the end of
    #: generation (ExecuTorch's PyTorchObserver line).  They split a run's energy
    #: into prompt and generation; None: the runtime printed durations only.
    phases_epoch_ms: tuple[float, float, float] | None = None
    #: Every token's time (TPOT percentiles, stalls), or why it was declined;
    #: None: the device did not capture stdout arrival times.
    latency: TokenLatency | None = None

    @staticmethod
    def total_rate(prompt_tokens: int, gen_tokens: int, prompt_s: float, gen_s: float) -> float:
        """The one definition of ``total_tps`` every backend uses."""
        elapsed = prompt_s + gen_s
        return (prompt_tokens + gen_tokens) / elapsed if elapsed > 0 else 0.0


@frozen(kw_only=True)
class DeviceFile:
    """A file ``prepare`` pushes to a phone: the host's copy and its name there.

    ``name`` is what ``prepare`` passes to :meth:`Device.push` (relative to
    the device's working directory), so the core can ask the device whether
    it already holds the file before checking its free storage.
    """

    local: Path
    name: str

    @property
    def size(self) -> int:
        return self.local.stat().st_size


@define(kw_only=True)
class Prepared:
    """What ``prepare`` hands to the later phases.

    ``describe`` is stored with the job (tool versions, build commit, model
    file and its hash, the actual quantization type); ``state`` is private to
    the backend.
    """

    describe: dict[str, str] = field(factory=dict)
    state: Any = None


@frozen(kw_only=True)
class RunRecord:
    """One finished execution as stored: raw output, metrics or an error."""

    index: int
    warmup: bool
    result: ProcessResult
    metrics: Metrics | None = None
    error: str | None = None
    before: Readings | None = None
    after: Readings | None = None
    #: What the device recorded during the run (cores allowed, energy); None: nothing asked.
    trace: RunTrace | None = None
    #: The interleaved round this run belongs to and its place in that round's
    #: shuffled order (0-based); None for warm-ups and runs made in sequence.
    round: int | None = None
    position: int | None = None

    @property
    def ok(self) -> bool:
        return self.metrics is not None and self.error is None
