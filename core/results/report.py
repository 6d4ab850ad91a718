"""What reporters render: stored configurations with their statistics.

:mod:`pocketbench.core.results.build` reads the store once and computes every
statistic (:mod:`pocketbench.core.results.stats`) into these plain attrs
classes, so reporter plugins only format; reporters never touch the store.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from attrs import define, field, frozen

from pocketbench.core.api.model import MetricInfo, RunRecord
from pocketbench.core.results import energy as _energy
from pocketbench.core.results import latency as _latency
from pocketbench.core.results.bandwidth import BandwidthSummary
from pocketbench.core.results.stats import Summary, Trend, summarize
from pocketbench.core.results.store import StoredConfig

#: Said in every report, because "total tokens/s" means different things to different runners.
TOTAL_DEFINITION = (
    "Total speed = (prompt tokens + generated tokens) / (prompt-evaluation time + generation time),"
    " the same definition for every backend."
)
PLUSMINUS_TEXT = {
    "sd": "mean ± sample standard deviation over the measured runs",
    "ci": (
        "mean [95% confidence interval of the mean, computed on the log scale so that it"
        " never reaches zero]"
    ),
}


@frozen(kw_only=True)
class MetricSpec:
    """How a metric is named and shown."""

    name: str
    #: Row label in the Galaxy A25 study's style.
    label: str
    #: Short name used in sentences and plots.
    short: str
    unit: str
    higher_is_better: bool = True
    #: Displayed value = stored value * scale (bytes -> MiB).
    scale: float = 1.0
    decimals: int = 2


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec(
            name="total_tps",
            label="Total Speed (tokens/second)",
            short="total speed",
            unit="tokens/s",
        ),
        MetricSpec(
            name="prompt_tps",
            label="Prompt Eval Speed (tokens/second)",
            short="prompt evaluation",
            unit="tokens/s",
        ),
        MetricSpec(
            name="generation_tps",
            label="Generation Speed (tokens/second)",
            short="generation",
            unit="tokens/s",
        ),
        MetricSpec(
            name="ttft_ms",
            label="Time to First Token (ms)",
            short="time to first token",
            unit="ms",
            higher_is_better=False,
            decimals=1,
        ),
        MetricSpec(
            name="load_ms",
            label="Load Time (ms)",
            short="load time",
            unit="ms",
            higher_is_better=False,
            decimals=1,
        ),
        MetricSpec(
            name="peak_rss_bytes",
            label="Peak Memory (MiB)",
            short="peak memory",
            unit="MiB",
            higher_is_better=False,
            scale=1 / 2**20,
            decimals=0,
        ),
    )
}
METRICS.update({spec["name"]: MetricSpec(**spec) for spec in _energy.SPECS})
METRICS.update({spec["name"]: MetricSpec(**spec) for spec in _latency.SPECS})
#: The Galaxy A25 study's three rows, always shown.
CORE_METRICS: tuple[str, ...] = ("total_tps", "prompt_tps", "generation_tps")
#: Shown when at least one configuration has them.
OPTIONAL_METRICS: tuple[str, ...] = (
    "ttft_ms", "load_ms", "peak_rss_bytes", *_energy.ENERGY_METRICS, *_latency.LATENCY_METRICS,
)  # fmt: skip
DEFAULT_METRICS: tuple[str, ...] = CORE_METRICS + OPTIONAL_METRICS
#: Metrics whose trend across runs can reveal throttling.
SPEED_METRICS: tuple[str, ...] = ("total_tps", "prompt_tps", "generation_tps")


def metric_spec(name: str) -> MetricSpec:
    """How the metric ``name`` is labelled and shown (its own name when unknown)."""
    return METRICS.get(name) or MetricSpec(name=name, label=name, short=name, unit="")


@frozen(kw_only=True)
class Vocabulary:
    """What backends call things: scheme labels and their own figures (from the registry).

    Reports are built from the store alone; the vocabulary only names what
    is stored, so a report of a backend that is no longer installed still
    renders (with raw names).
    """

    #: (backend, canonical scheme) -> the label the backend declares for it.
    scheme_labels: dict[tuple[str, str], str] = field(factory=dict)
    #: Figures backends add to ``Metrics.extra``, by name.
    metrics: dict[str, MetricInfo] = field(factory=dict)

    def scheme_label(self, backend: str, quant: str) -> str:
        return self.scheme_labels.get((backend, quant), quant)

    def spec(self, name: str) -> MetricSpec:
        info = self.metrics.get(name)
        if info is None:
            return metric_spec(name)
        return MetricSpec(name=name, label=info.label, short=info.label, unit=info.unit)


@define(kw_only=True)
class ReportOptions:
    """Presentation choices a reporter honours."""

    #: "sd": mean ± sample standard deviation (the Galaxy A25 study's); "ci": the 95% CI.
    plusminus: str = field(default="sd", validator=attrs.validators.in_(("sd", "ci")))
    #: Document title; None lets the reporter use the report's own.
    title: str | None = None


@frozen(kw_only=True)
class RunPoint:
    """One execution as reporters see it (measured or warm-up, successful or not)."""

    index: int
    warmup: bool
    ok: bool
    #: Metric name -> stored value (only metrics the run measured).
    values: dict[str, float]
    error: str | None = None
    wall_s: float = math.nan
    #: Highest device temperature read before / after the run, when recorded.
    temp_before_c: float | None = None
    temp_after_c: float | None = None
    #: The host's 1-minute load average before the run (local devices).
    load_before: float | None = None
    #: The interleaved round and the run's place in its shuffled order (None: run in sequence).
    round: int | None = None
    position: int | None = None

    @property
    def temperature_c(self) -> float | None:
        return self.temp_after_c if self.temp_after_c is not None else self.temp_before_c

    @classmethod
    def of(cls, record: RunRecord) -> RunPoint:
        return cls(
            index=record.index,
            warmup=record.warmup,
            ok=record.ok,
            values=metric_values(record),
            error=record.error,
            wall_s=record.result.wall_s,
            temp_before_c=record.before.max_temperature() if record.before else None,
            temp_after_c=record.after.max_temperature() if record.after else None,
            load_before=record.before.load_avg if record.before else None,
            round=record.round,
            position=record.position,
        )


@frozen(kw_only=True)
class ConfigReport(StoredConfig):
    """One configuration (backend x quant x model x device x workload) of one campaign.

    What the store returned (:class:`~pocketbench.core.results.store.StoredConfig`)
    with the statistics of every metric the runs measured
    (:func:`pocketbench.core.results.build.configurations`), so the summary of
    ``bench run``, every reporter, the findings document and ``bench compare``
    read the same figures.
    """

    #: Column label, unique within its report.
    label: str = ""
    #: Metric name -> statistics over the successful measured runs.
    summaries: dict[str, Summary] = field(factory=dict)
    #: Metric name -> trend against run index (speed metrics only).
    trends: dict[str, Trend] = field(factory=dict)
    #: Bytes per token, achieved and measured bandwidth, MBU (None: not stored).
    bandwidth: BandwidthSummary | None = None

    @property
    def runs(self) -> tuple[RunPoint, ...]:
        """Measured runs as reporters see them."""
        return tuple(RunPoint.of(r) for r in self.records)

    @property
    def warmup_runs(self) -> tuple[RunPoint, ...]:
        return tuple(RunPoint.of(r) for r in self.warmups)

    @property
    def ok_runs(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.records if r.ok)

    @property
    def n_ok(self) -> int:
        return len(self.ok_runs)

    @property
    def busy_host(self) -> float | None:
        """The highest load average seen before a measured run, when it exceeded the cores.

        The runtime's own threads count too, but the load before a run is mostly
        what else the machine was doing: above the core count, other processes
        were competing with the benchmark for the CPU.
        """
        cores = self.facts.cores if self.facts is not None else 0
        loads = [
            r.before.load_avg for r in self.records if r.before and r.before.load_avg is not None
        ]
        if not loads or cores <= 0:
            return None
        worst = max(loads)
        return worst if worst > cores else None

    @property
    def n_failed(self) -> int:
        return len(self.records) - self.n_ok

    @property
    def failures(self) -> tuple[RunPoint, ...]:
        return tuple(r for r in self.runs if not r.ok)

    @property
    def throttling(self) -> tuple[str, ...]:
        """Speed metrics whose significant fall across runs suggests throttling."""
        return tuple(m for m, t in self.trends.items() if t.throttling)

    @property
    def freq_drop(self) -> Any:
        """How the cores' frequency moved (:class:`~pocketbench.core.results.devicestate.FreqDrop`)."""
        from pocketbench.core.results.devicestate import freq_drop

        return freq_drop(self)

    @property
    def likely_throttling(self) -> bool:
        """The report's flag: speed fell across runs, or the cores' frequency fell."""
        drop = self.freq_drop
        return bool(self.throttling) or (drop is not None and drop.throttling)

    @property
    def temperatures(self) -> tuple[float, ...]:
        return tuple(t for r in self.runs if (t := r.temperature_c) is not None)

    def summary(self, metric: str) -> Summary:
        return self.summaries.get(metric) or summarize([])

    def samples(self, metric: str) -> tuple[float, ...]:
        """Values of ``metric`` over the successful measured runs, in run order."""
        return self.summary(metric).samples

    def ok_indices(self, metric: str) -> tuple[int, ...]:
        """Run indices of ``samples(metric)``, in the same order."""
        return tuple(r.index for r in self.runs if r.ok and metric in r.values)


@frozen(kw_only=True)
class Report:
    """Everything a reporter renders."""

    title: str
    configs: tuple[ConfigReport, ...]
    #: Metrics shown, in row order (the Galaxy A25 study's three first).
    metrics: tuple[str, ...]
    generated_at: float
    version: str
    campaign: str | None = None
    vocabulary: Vocabulary = field(factory=lambda: Vocabulary())
    #: Results per phone, when several phones measured a configuration's campaign (a pool):
    #: a :class:`~pocketbench.core.results.findings.PhoneBreakdown` (not imported here: that
    #: module builds on this one).
    phones: Any = None

    @property
    def campaigns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.campaign for c in self.configs))

    def spec(self, metric: str) -> MetricSpec:
        """How ``metric`` is named, including the figures backends declare."""
        return self.vocabulary.spec(metric)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the backends say about their own figures shown in this report (and energy's definition)."""
        infos = self.vocabulary.metrics
        own = tuple(infos[m].note for m in self.metrics if m in infos and infos[m].note)
        energy = (_energy.ENERGY_NOTE,) if _energy.MJ_PER_TOKEN in self.metrics else ()
        if _energy.PROMPT_MJ_PER_TOKEN in self.metrics:
            energy += (_energy.SPLIT_NOTE,)
        latency = (_latency.NOTE,) if "tpot_p50_ms" in self.metrics else ()
        problems = tuple(
            f"{c.label}: {line}" for c in self.configs for line in _latency.problems(c.records)
        )
        return own + energy + latency + problems

    @property
    def has_quality(self) -> bool:
        return any(c.quality is not None for c in self.configs)

    @property
    def model_notes(self) -> tuple[str, ...]:
        """What every report must say about where a real preset's weights come from."""
        from pocketbench.core.kit.realmodels import REAL_MODELS

        models = dict.fromkeys(c.model for c in self.configs)
        return tuple(REAL_MODELS[m].provenance for m in models if m in REAL_MODELS)


def metric_values(record: RunRecord) -> dict[str, float]:
    """Every finite figure a run measured: the :class:`Metrics` fields and its extras."""
    m = record.metrics
    if m is None:
        return {}
    values: dict[str, float] = {}
    for name in (*DEFAULT_METRICS, *sorted(m.extra)):
        value = getattr(m, name, None)
        if value is None:
            value = m.extra.get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            values[name] = float(value)
    values.update(_energy.energy_values(record))
    values.update(_latency.latency_values(record))
    return values


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n else "unknown"


def facts_lines(config: ConfigReport) -> list[tuple[str, str]]:
    """(field, value) pairs describing a configuration's device."""
    f = config.facts
    if f is None:
        return [("Device", config.device)]
    rows = [("Device", f.name)]
    model = " ".join(x for x in (f.manufacturer, f.model) if x)
    for key, value in (
        ("Device model", model),
        ("SoC / CPU", f.soc),
        ("ABI", f.abi),
        ("OS", f.os),
        ("Cores", str(f.cores) if f.cores else ""),
        ("Max frequency", f"{max(f.max_freqs_khz) / 1e6:.2f} GHz" if f.max_freqs_khz else ""),
        ("RAM", gib(f.ram_bytes) if f.ram_bytes else ""),
    ):
        if value:
            rows.append((key, value))
    for key, value in sorted(f.extra.items()):
        rows.append((key, str(value)))
    return rows
