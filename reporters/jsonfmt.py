"""JSON reporter: the machine-readable contract, raw samples included.

One object per configuration with ``backend``, ``quant``, ``model``,
``device``, ``workload`` and ``metrics``; ``metrics`` maps each metric
(``prompt_tps``, ``generation_tps``, ``total_tps``, and the optional ones a
runner measured) to ``{mean, stdev, ci95: [low, high], n, samples}``.
``quality`` is null, or maps ``kl_mean``, ``kl_p99``, ``top1_agreement``,
``ppl`` and ``ppl_ratio`` to ``{value, ci95: [low, high] or null}`` beside
``reference`` ("backend quant model") and ``eval_tokens``.
Undefined numbers (the stdev of one run) are ``null``.  ``bandwidth`` holds
``bytes_per_token``, ``achieved_gbps``, ``device_gbps``, ``mbu`` (``{mean,
ci95}``) and ``ceiling_tps`` (:mod:`pocketbench.core.results.bandwidth`),
null when the results predate it.  ``latency`` holds the time per output
token over runs: ``tpot_p50_ms``, ``tpot_p90_ms``, ``tpot_p99_ms``,
``max_gap_ms`` and ``stalls``, each the mean of the runs' figures ``{mean,
ci95, n}`` (null: no usable run), and ``problems`` (why runs have none);
``latency`` is null when no run captured per-token times.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pocketbench.report import (
    TOTAL_DEFINITION,
    ConfigReport,
    Report,
    ReporterInfo,
    ReportOptions,
    bandwidth_json,
    hookimpl,
    latency_json,
    plusminus_text,
    unstructure,
)

#: Bumped when a key changes meaning or disappears (adding keys does not bump it).
FORMAT_VERSION = 2


@hookimpl
def pocketbench_reporter_info() -> ReporterInfo:
    return ReporterInfo(
        description="JSON: one object per configuration, statistics and raw samples",
        extension="json",
    )


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    return (
        json.dumps(as_data(report, options), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    )


def as_data(report: Report, options: ReportOptions) -> dict[str, Any]:
    return _clean(
        {
            "format": "pocketbench-report",
            "format_version": FORMAT_VERSION,
            "title": options.title or report.title,
            "pocketbench_version": report.version,
            "generated_at": report.generated_at,
            "campaign": report.campaign,
            "plusminus": options.plusminus,
            "plusminus_meaning": plusminus_text(options),
            "definitions": {
                "total_tps": TOTAL_DEFINITION,
                **{
                    m: report.vocabulary.metrics[m].note
                    for m in report.metrics
                    if m in report.vocabulary.metrics
                },
            },
            "configurations": [configuration(c) for c in report.configs],
            "model_notes": list(report.model_notes),
        }
    )


def configuration(c: ConfigReport) -> dict[str, Any]:
    metrics = {}
    for name, s in c.summaries.items():
        trend = c.trends.get(name)
        metrics[name] = {
            "mean": s.mean,
            "stdev": s.stdev,
            "ci95": list(s.ci95),
            "n": s.n,
            "samples": list(s.samples),
            "run_indices": list(c.ok_indices(name)),
            "outliers": list(s.outliers),
            "trend": None
            if trend is None
            else {
                "slope_per_run": trend.slope,
                "pvalue": trend.pvalue,
                "change_pct": trend.change_pct,
                "throttling": trend.throttling,
            },
        }
    return {
        "label": c.label,
        "campaign": c.campaign,
        "config_key": c.config_key,
        "backend": c.backend,
        "quant": c.quant,
        "model": c.model,
        "device": c.device,
        "options": c.options,
        "workload": unstructure(c.workload),
        "warmups": len(c.warmups),
        "n_runs": len(c.runs),
        "runs": [
            {
                "index": r.index,
                "round": r.round,
                "position": r.position,
                "ok": r.ok,
                "wall_s": r.wall_s,
                "values": r.values,
            }
            for r in c.runs
        ],
        "failed_runs": c.n_failed,
        "throttling": list(c.throttling),
        **_device_state(c),
        "metrics": metrics,
        "failures": [{"index": r.index, "error": r.error} for r in c.failures],
        "temperatures_c": [r.temperature_c for r in c.runs],
        "device_facts": unstructure(c.facts) if c.facts is not None else None,
        "describe": c.describe,
        "started_at": c.started_at,
        "quality": quality(c),
        "bandwidth": bandwidth_json(c.bandwidth),
        "latency": latency_json(c),
    }


def quality(c: ConfigReport) -> dict[str, Any] | None:
    q = c.quality
    if q is None:
        return None
    out: dict[str, Any] = {
        name: {"value": f.value, "ci95": list(f.ci95) if f.ci95 is not None else None}
        for name, f in q.figures.items()
    }
    out.update(
        reference=q.reference,
        eval_tokens=q.eval_tokens,
        scored_positions=q.scored,
        eval_text=q.text_name,
        eval_text_sha256=q.text_sha256,
        protocol=q.protocol,
        method=q.method,
        measured_on="host (the exact model file the device ran)",
    )
    return out


def _device_state(c: ConfigReport) -> dict[str, Any]:
    """``cores``, ``energy`` and the frequency-based throttling evidence of a configuration."""
    from pocketbench.report import cores_text, energy_json

    drop = c.freq_drop
    return {
        # The cores the runtime was pinned to ([]: not pinned) and how they were asked for.
        "cores": list(c.workload.cores),
        "placement": {"asked": c.workload.placement or None, "text": cores_text(c)},
        "energy": energy_json(c),
        "frequency": None
        if drop is None
        else {
            "first_mhz": drop.first_mhz,
            "last_mhz": drop.last_mhz,
            "change_pct": drop.change_pct,
            "thermal_status": drop.thermal_status,
            "throttling": drop.throttling,
        },
        "likely_throttling": c.likely_throttling,
    }


def _clean(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
