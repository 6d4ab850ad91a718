"""What reporters render: stored configurations with their statistics.

:func:`build_report` reads the store once and computes every statistic
(:mod:`pocketbench.core.results.stats`), so reporter plugins only format.  The data
here is plain attrs classes; reporters never touch the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, field, frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.model import DeviceFacts, RunRecord, Workload
from pocketbench.core.results.bandwidth import BandwidthSummary, summarize_bandwidth
from pocketbench.core.results.stats import Summary, Trend, summarize, trend

if TYPE_CHECKING:
    from pocketbench.core.engine.plugins import Registry
    from pocketbench.core.results.store import Store, StoredConfig

#: Said in every report, because "total tokens/s" means different things to different runners.
TOTAL_DEFINITION = (
    "Total speed = (prompt tokens + generated tokens) / (prompt-evaluation time + generation time),"
    " the same definition for every backend."
)
RUNNER_TOTAL_NOTE = (
    'ExecuTorch\'s own "total rate" (runner_total_rate) is different: generated tokens only,'
    " divided by the whole inference time; it is shown separately where a runner reports it."
)
PLUSMINUS_TEXT = {
    "sd": "mean ± sample standard deviation over the measured runs",
    "ci": "mean ± half-width of the 95% confidence interval of the mean (Student's t)",
}


@frozen(kw_only=True)
class MetricSpec:
    """How a metric is named and shown."""

    name: str
    #: Row label in the seed's style.
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
            name="runner_total_rate",
            label="Runner's Own Total Rate (tokens/second)",
            short="runner's own total rate",
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
#: The seed's three rows, always shown.
CORE_METRICS: tuple[str, ...] = ("total_tps", "prompt_tps", "generation_tps")
#: Shown when at least one configuration has them.
OPTIONAL_METRICS: tuple[str, ...] = ("runner_total_rate", "ttft_ms", "load_ms", "peak_rss_bytes")
DEFAULT_METRICS: tuple[str, ...] = CORE_METRICS + OPTIONAL_METRICS
#: Metrics whose trend across runs can reveal throttling.
SPEED_METRICS: tuple[str, ...] = ("total_tps", "prompt_tps", "generation_tps")


def metric_spec(name: str) -> MetricSpec:
    return METRICS.get(name) or MetricSpec(name=name, label=name, short=name, unit="")


@define(kw_only=True)
class ReportOptions:
    """Presentation choices a reporter honours."""

    #: "sd": mean ± sample standard deviation (the seed's); "ci": ± 95% CI half-width.
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

    @property
    def temperature_c(self) -> float | None:
        return self.temp_after_c if self.temp_after_c is not None else self.temp_before_c


@frozen(kw_only=True)
class ConfigReport:
    """One configuration (backend x quant x model x device x workload) of one campaign."""

    campaign: str
    config_key: str
    backend: str
    quant: str
    model: str
    device: str
    workload: Workload
    facts: DeviceFacts | None
    #: Tool versions, build commits, model hashes (from the backend's prepare).
    describe: dict[str, str]
    #: Measured runs in order, failed ones included.
    runs: tuple[RunPoint, ...]
    warmup_runs: tuple[RunPoint, ...]
    #: Metric name -> statistics over the successful measured runs.
    summaries: dict[str, Summary]
    #: Metric name -> trend against run index (speed metrics only).
    trends: dict[str, Trend]
    started_at: float
    #: Column label, unique within its report.
    label: str = ""
    #: Bytes per token, achieved and measured bandwidth, MBU (None: not stored).
    bandwidth: BandwidthSummary | None = None

    @property
    def warmups(self) -> int:
        return len(self.warmup_runs)

    @property
    def n_ok(self) -> int:
        return sum(1 for r in self.runs if r.ok)

    @property
    def busy_host(self) -> float | None:
        """The highest load average seen before a measured run, when it exceeded the cores.

        The runtime's own threads count too, but the load before a run is mostly
        what else the machine was doing: above the core count, other processes
        were competing with the benchmark for the CPU.
        """
        cores = self.facts.cores if self.facts is not None else 0
        loads = [r.load_before for r in self.runs if r.load_before is not None]
        if not loads or cores <= 0:
            return None
        worst = max(loads)
        return worst if worst > cores else None

    @property
    def n_failed(self) -> int:
        return sum(1 for r in self.runs if not r.ok)

    @property
    def failures(self) -> tuple[RunPoint, ...]:
        return tuple(r for r in self.runs if not r.ok)

    @property
    def throttling(self) -> tuple[str, ...]:
        """Speed metrics whose significant fall across runs suggests throttling."""
        return tuple(m for m, t in self.trends.items() if t.throttling)

    @property
    def temperatures(self) -> tuple[float, ...]:
        return tuple(t for r in self.runs if (t := r.temperature_c) is not None)

    def summary(self, metric: str) -> Summary:
        return self.summaries.get(metric) or summarize([])

    def samples(self, metric: str) -> tuple[float, ...]:
        return self.summary(metric).samples

    def ok_indices(self, metric: str) -> tuple[int, ...]:
        """Run indices of ``samples(metric)``, in the same order."""
        return tuple(r.index for r in self.runs if r.ok and metric in r.values)


@frozen(kw_only=True)
class Report:
    """Everything a reporter renders."""

    title: str
    configs: tuple[ConfigReport, ...]
    #: Metrics shown, in row order (the seed's three first).
    metrics: tuple[str, ...]
    generated_at: float
    version: str
    campaign: str | None = None

    @property
    def campaigns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.campaign for c in self.configs))

    @property
    def has_bandwidth(self) -> bool:
        return any(c.bandwidth is not None for c in self.configs)

    @property
    def has_runner_total_rate(self) -> bool:
        return any("runner_total_rate" in c.summaries for c in self.configs)

    def spec(self, metric: str) -> MetricSpec:
        return metric_spec(metric)


# -- building -------------------------------------------------------------------


def build_report(
    store: Store,
    campaign: str | None = None,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    title: str | None = None,
) -> Report:
    """Read a campaign (default: the newest measurement of every configuration)."""
    configs = store.configurations(campaign)
    default = f"Benchmark results: {campaign}" if campaign else "Benchmark results"
    return report_from_configs(configs, metrics=metrics, title=title or default, campaign=campaign)


def report_from_configs(
    configs: Sequence[StoredConfig],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    title: str = "Benchmark results",
    campaign: str | None = None,
    labels: Sequence[str] | None = None,
) -> Report:
    """A report of the given stored configurations, in the given order."""
    reports = [config_report(c, metrics) for c in configs]
    names = list(labels) if labels is not None else column_labels(reports)
    reports = [attrs.evolve(r, label=n) for r, n in zip(reports, names)]
    shown = [m for m in metrics if m in CORE_METRICS or any(m in r.summaries for r in reports)]
    return Report(
        title=title,
        configs=tuple(reports),
        metrics=tuple(shown),
        generated_at=time.time(),
        version=_version(),
        campaign=campaign,
    )


def config_report(config: StoredConfig, metrics: Sequence[str] = DEFAULT_METRICS) -> ConfigReport:
    runs = tuple(_point(r, metrics) for r in config.runs)
    warmups = tuple(_point(r, metrics) for r in config.warmups)
    summaries: dict[str, Summary] = {}
    trends: dict[str, Trend] = {}
    for m in metrics:
        pairs = [(r.index, r.values[m]) for r in runs if r.ok and m in r.values]
        if not pairs:
            continue
        summaries[m] = summarize([v for _, v in pairs])
        if m in SPEED_METRICS:
            trends[m] = trend([v for _, v in pairs], index=[i for i, _ in pairs])
    return ConfigReport(
        campaign=config.campaign,
        config_key=config.config_key,
        backend=config.backend,
        quant=config.quant,
        model=config.model,
        device=config.device,
        workload=config.workload,
        facts=config.facts,
        describe=dict(config.describe),
        runs=runs,
        warmup_runs=warmups,
        summaries=summaries,
        trends=trends,
        started_at=config.started_at,
        bandwidth=summarize_bandwidth(
            config.bandwidth,
            config.workload,
            config.samples("generation_tps"),
        ),
    )


def _point(record: RunRecord, metrics: Sequence[str]) -> RunPoint:
    values: dict[str, float] = {}
    m = record.metrics
    if m is not None:
        for name in metrics:
            value = getattr(m, name, None)
            if value is None:
                value = m.extra.get(name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                values[name] = float(value)
    return RunPoint(
        index=record.index,
        warmup=record.warmup,
        ok=record.ok,
        values=values,
        error=record.error,
        wall_s=record.result.wall_s,
        temp_before_c=record.before.max_temperature() if record.before else None,
        temp_after_c=record.after.max_temperature() if record.after else None,
        load_before=record.before.load_avg if record.before else None,
    )


def column_labels(configs: Sequence[ConfigReport]) -> list[str]:
    """Short unique labels: backend and quant, plus whatever else varies."""

    def workload(c: ConfigReport) -> str:
        w = c.workload
        return f"p{w.prompt_tokens}/g{w.gen_tokens}/t{w.threads}"

    parts: list[Any] = [lambda c: c.backend, lambda c: c.quant]
    for getter in (
        lambda c: c.model,
        lambda c: f"@{c.device}",
        workload,
        lambda c: f"[{c.campaign}]",
    ):
        if len({getter(c) for c in configs}) > 1:
            parts.append(getter)
    labels = [" ".join(str(p(c)) for p in parts) for c in configs]
    if len(set(labels)) < len(labels):  # e.g. two prompts of the same length
        labels = [f"{label} ({c.config_key})" for label, c in zip(labels, configs)]
    return labels


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


def _version() -> str:
    try:
        from pocketbench import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


# -- rendering ------------------------------------------------------------------


def render(
    registry: Registry, fmt: str, report: Report, options: ReportOptions | None = None
) -> str | bytes:
    """Render ``report`` with the reporter plugin called ``fmt``."""
    pm = registry.reporter_manager(fmt)
    out = pm.hook.pocketbench_render(report=report, options=options or ReportOptions())
    if not isinstance(out, (str, bytes)):
        raise UsageError(
            f"reporter {fmt!r} rendered nothing; its pocketbench_render returned {out!r}"
        )
    return out
