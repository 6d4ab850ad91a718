"""Reports built from the store: every configuration's statistics, column labels, the report.

The store returns what was stored (:class:`~pocketbench.core.results.store.StoredConfig`);
here each configuration gets the summary of every metric its runs measured
and the trends of its speeds (:class:`~pocketbench.core.results.report.ConfigReport`),
and a campaign becomes a :class:`~pocketbench.core.results.report.Report`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import attrs

from pocketbench.core.results.bandwidth import summarize_bandwidth
from pocketbench.core.results.names import short_name
from pocketbench.core.results.report import (
    CORE_METRICS,
    DEFAULT_METRICS,
    SPEED_METRICS,
    ConfigReport,
    Report,
    RunPoint,
    Vocabulary,
)
from pocketbench.core.results.stats import Summary, Trend, summarize, summary_from_stats, trend
from pocketbench.core.results.store import Store, StoredConfig


def configurations(store: Store, campaign: str | None = None) -> list[ConfigReport]:
    """Stored configurations with their statistics (:meth:`Store.stored` says which)."""
    return [with_statistics(stored) for stored in store.stored(campaign)]


def build_report(
    store: Store,
    campaign: str | None = None,
    *,
    title: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> Report:
    """Read a campaign (default: the newest measurement of every configuration)."""
    configs = configurations(store, campaign)
    default = f"Benchmark results: {campaign}" if campaign else "Benchmark results"
    return report_from_configs(
        configs, title=title or default, campaign=campaign, vocabulary=vocabulary
    )


def report_from_configs(
    configs: Sequence[ConfigReport],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    title: str = "Benchmark results",
    campaign: str | None = None,
    labels: Sequence[str] | None = None,
    vocabulary: Vocabulary | None = None,
) -> Report:
    """A report of the given configurations, in the given order.

    Rows are ``metrics`` (the core three always, the others when measured),
    then the figures backends declare in ``vocabulary`` when measured.
    """
    vocab = vocabulary or Vocabulary()
    names = list(labels) if labels is not None else column_labels(configs, vocab)
    reports = [attrs.evolve(c, label=n) for c, n in zip(configs, names)]
    wanted = [*metrics, *(m for m in vocab.metrics if m not in metrics)]
    shown = [m for m in wanted if m in CORE_METRICS or any(m in r.summaries for r in reports)]
    return Report(
        title=title,
        configs=tuple(reports),
        metrics=tuple(shown),
        generated_at=time.time(),
        version=_version(),
        campaign=campaign,
        vocabulary=vocab,
    )


def with_statistics(stored: StoredConfig) -> ConfigReport:
    """A stored configuration with the summary of every measured metric and the speed trends.

    Figures an imported file held only as mean ± sd (no runs) are shown as they are.
    """
    config = ConfigReport(**attrs.asdict(stored, recurse=False))
    points = [RunPoint.of(r) for r in config.records]
    names = dict.fromkeys(n for p in points if p.ok for n in p.values)
    summaries: dict[str, Summary] = {}
    trends: dict[str, Trend] = {}
    for m in names:
        pairs = [(p.index, p.values[m]) for p in points if p.ok and m in p.values]
        summaries[m] = summarize([v for _, v in pairs])
        if m in SPEED_METRICS:
            trends[m] = trend([v for _, v in pairs], index=[i for i, _ in pairs])
    for (
        s
    ) in config.imported_summaries:  # an imported mean ± sd without samples: shown, never resampled
        if s.metric not in summaries:
            summaries[s.metric] = summary_from_stats(s.n, s.mean, s.stdev)
    generation = summaries.get("generation_tps")
    bandwidth = summarize_bandwidth(
        config.stored_bandwidth, config.workload, generation.samples if generation else ()
    )
    return attrs.evolve(config, summaries=summaries, trends=trends, bandwidth=bandwidth)


#: The widest a model or device name is in a column label (the JSON report has it whole).
LABEL_PART_WIDTH = 32


def column_labels(
    configs: Sequence[ConfigReport], vocabulary: Vocabulary | None = None
) -> list[str]:
    """Short unique labels: backend and scheme, plus whatever else differs.

    Model, device, workload and options are added only when they differ
    between the configurations; a campaign name never labels a column.
    """
    vocab = vocabulary or Vocabulary()

    def workload(c: ConfigReport) -> str:
        w = c.workload
        return f"p{w.prompt_tokens}/g{w.gen_tokens}/t{w.threads}"

    def options(c: ConfigReport) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(c.options.items())) or "default options"

    def cores(c: ConfigReport) -> str:
        w = c.workload
        return f"cores {w.placement or 'unpinned'}" if w.cores or w.placement else "cores unpinned"

    parts: list[Any] = [lambda c: c.backend, lambda c: vocab.scheme_label(c.backend, c.quant)]
    # A model path or a device address is cut in the middle: its ends tell it apart.
    model = lambda c: short_name(c.model, LABEL_PART_WIDTH)  # noqa: E731
    device = lambda c: "@" + short_name(c.device, LABEL_PART_WIDTH)  # noqa: E731
    for getter in (model, device, workload, cores, options):
        if len({getter(c) for c in configs}) > 1:
            parts.append(getter)
    labels = [" ".join(str(p(c)) for p in parts) for c in configs]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # e.g. two prompts of the same length
        seen[label] = seen.get(label, 0) + 1
        if labels.count(label) > 1:
            labels[i] = f"{label} #{seen[label]}"
    return labels


def _version() -> str:
    from pocketbench import __version__

    return __version__
