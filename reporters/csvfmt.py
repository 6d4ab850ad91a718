"""CSV reporter: raw samples, one row per run (warm-ups included and marked).

A configuration's quality figures (``--quality``), when measured, are repeated
on each of its rows: ``kl_mean``, ``kl_p99``, ``top1_agreement`` (a fraction),
``ppl``, ``ppl_ratio`` and ``quality_reference``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from pocketbench.report import (
    DEFAULT_METRICS,
    QUALITY_METRICS,
    ConfigReport,
    Report,
    ReporterInfo,
    ReportOptions,
    RunPoint,
    hookimpl,
)

COLUMNS = (
    "campaign", "config_key", "backend", "quant", "model", "device",
    "prompt_tokens", "gen_tokens", "threads",
    "run_index", "round", "position", "warmup", "ok", *DEFAULT_METRICS,
    "wall_s", "temp_before_c", "temp_after_c", "error",
    *QUALITY_METRICS, "quality_reference",
)  # fmt: skip
_TEXT = {
    "campaign", "config_key", "backend", "quant", "model", "device", "error", "quality_reference",
}  # fmt: skip


@hookimpl
def pocketbench_reporter_info() -> ReporterInfo:
    return ReporterInfo(description="CSV of raw samples, one row per run", extension="csv")


@hookimpl
def pocketbench_render(report: Report, options: ReportOptions) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for config in report.configs:
        for run in (*config.warmup_runs, *config.runs):
            writer.writerow(row(config, run))
    return out.getvalue()


def row(config: ConfigReport, run: RunPoint) -> dict[str, Any]:
    w = config.workload
    data: dict[str, Any] = {
        "campaign": config.campaign,
        "config_key": config.config_key,
        "backend": config.backend,
        "quant": config.quant,
        "model": config.model,
        "device": config.device,
        "prompt_tokens": w.prompt_tokens,
        "gen_tokens": w.gen_tokens,
        "threads": w.threads,
        "run_index": run.index,
        "round": "" if run.round is None else run.round,
        "position": "" if run.position is None else run.position,
        "warmup": int(run.warmup),
        "ok": int(run.ok),
        "wall_s": _num(run.wall_s),
        "temp_before_c": _num(run.temp_before_c),
        "temp_after_c": _num(run.temp_after_c),
        "error": run.error or "",
    }
    for metric in DEFAULT_METRICS:
        data[metric] = _num(run.values.get(metric))
    q = config.quality
    for metric in QUALITY_METRICS:
        data[metric] = _num(q.value(metric)) if q is not None else ""
    data["quality_reference"] = q.reference if q is not None else ""
    return {k: defuse(v) if k in _TEXT else v for k, v in data.items()}


def _num(value: float | None) -> str:
    if value is None or value != value:
        return ""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def defuse(text: str) -> str:
    """Keep spreadsheets from running a user string as a formula (OWASP CSV injection)."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text
