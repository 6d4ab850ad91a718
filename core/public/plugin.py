"""The public API for plugin authors: everything a backend or a reporter needs.

A plugin imports from here (and, in its tests, from :mod:`pocketbench.testing`)
and never from ``pocketbench.core``: what is named here is kept stable, the
core's own modules are not.  docs/plugins.md is written against this module.

Backends implement the phase hooks (:func:`hookimpl` on methods named like
the hookspecs: ``pocketbench_backend_info``, ``pocketbench_prepare``,
``pocketbench_run``, ``pocketbench_parse``, ...); reporters implement
``pocketbench_reporter_info`` and ``pocketbench_render``.
"""

from __future__ import annotations

from pocketbench.core.api.bandwidth import DecodeBytes, ProbeToolchain
from pocketbench.core.api.errors import (
    DeviceError,
    ExitCode,
    ParseError,
    PocketbenchError,
    SetupError,
    UsageError,
    unknown_choice,
)
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.imported import (
    ImportedConfig,
    ImportedResults,
    ImportedRun,
    ImportedSummary,
    ImportFormatError,
)
from pocketbench.core.api.model import (
    BackendInfo,
    DeviceFacts,
    Job,
    MetricInfo,
    Metrics,
    OptionInfo,
    Prepared,
    ProcessResult,
    QuantScheme,
    Readings,
    ReporterInfo,
    RunRecord,
    Workload,
    hash_text,
)
from pocketbench.core.api.presets import PRESETS, ModelSpec, get_preset
from pocketbench.core.api.quality import QualityProtocol, QualityRequest, QualityResult
from pocketbench.core.api.tokentimes import TokenLatency
from pocketbench.core.api.tokentimes import measure as token_latency
from pocketbench.core.devices.base import Device, ProgressFn
from pocketbench.core.devices.execcheck import explain_refusal
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.kit import logprobs
from pocketbench.core.kit.cache import (
    cache_dir,
    cached,
    cached_dir,
    file_digest,
    file_lock,
    publish,
    publish_dir,
    temp_beside,
    write_atomic,
    write_checked,
)
from pocketbench.core.kit.children import ChildStopped, child, run_child
from pocketbench.core.kit.convert import unstructure
from pocketbench.core.kit.elf import ElfInfo, check_executable_abi, read_elf
from pocketbench.core.kit.realmodels import REAL_MODELS, RealModel, get_real_model, real_model_file
from pocketbench.core.kit.status import Status, say, status
from pocketbench.core.kit.zig import ZIG_VERSION, ZigToolchain, find_zig
from pocketbench.core.results.bandwidth import TABLE_NOTE as BANDWIDTH_NOTE
from pocketbench.core.results.bandwidth import as_json as bandwidth_json
from pocketbench.core.results.bandwidth import table_rows as bandwidth_rows
from pocketbench.core.results.devicestate import cores_text
from pocketbench.core.results.energy import energy_json
from pocketbench.core.results.findings import (
    Cell,
    ComparisonTable,
    Conclusion,
    DecisionColumn,
    DecisionRow,
    DecisionTable,
    Findings,
    Picture,
    Section,
    SummaryLine,
    Table,
)
from pocketbench.core.results.latency import latency_json, steps_by_position
from pocketbench.core.results.names import CELL_WIDTH, short_name
from pocketbench.core.results.pareto_plot import pareto_chart
from pocketbench.core.results.plots import bar_chart, position_chart, roofline_chart, runs_chart
from pocketbench.core.results.present import (
    latex_breakable,
    latex_escape,
    latex_pm,
    latex_table,
    md_escape,
    md_table,
    notes,
    num,
    plusminus_text,
    pm_text,
    pvalue,
    quality_notes,
    quality_rows,
    shorten,
    summary_rows,
    when,
    workload_text,
)
from pocketbench.core.results.quality import (
    QUALITY_LABELS,
    QUALITY_METRICS,
    display_figure,
    pareto_front,
)
from pocketbench.core.results.report import (
    CORE_METRICS,
    DEFAULT_METRICS,
    TOTAL_DEFINITION,
    ConfigReport,
    Report,
    ReportOptions,
    RunPoint,
    facts_lines,
    metric_spec,
)
from pocketbench.core.results.stats import Summary

__all__ = [
    # hooks
    "hookimpl",
    # what a backend declares and receives
    "BackendInfo",
    "QuantScheme",
    "OptionInfo",
    "MetricInfo",
    "Job",
    "Workload",
    "Prepared",
    "ProcessResult",
    "Metrics",
    "TokenLatency",
    "token_latency",
    "DecodeBytes",
    "ProbeToolchain",
    "RunRecord",
    "Readings",
    "DeviceFacts",
    "Device",
    "LocalDevice",
    "ProgressFn",
    "hash_text",
    # bench import
    "ImportedResults",
    "ImportedConfig",
    "ImportedRun",
    "ImportedSummary",
    "ImportFormatError",
    # executables for a device: the right processor, and why one would not run
    "ElfInfo",
    "read_elf",
    "check_executable_abi",
    "explain_refusal",
    # the zig cross toolchain (a runtime for a phone; the core's probe uses the same)
    "ZIG_VERSION",
    "ZigToolchain",
    "find_zig",
    # errors
    "PocketbenchError",
    "UsageError",
    "SetupError",
    "DeviceError",
    "ParseError",
    "ExitCode",
    "unknown_choice",
    # synthetic models
    "ModelSpec",
    "PRESETS",
    "get_preset",
    # real-weight models and quality (``pocketbench_quality``)
    "RealModel",
    "REAL_MODELS",
    "get_real_model",
    "real_model_file",
    "QualityProtocol",
    "QualityRequest",
    "QualityResult",
    "logprobs",
    # the cache and files
    "cache_dir",
    "file_digest",
    "file_lock",
    "temp_beside",
    "write_atomic",
    "publish",
    "cached",
    "cached_dir",
    "publish_dir",
    "write_checked",
    # helper processes of prepare (builds, quantizing, exports): stopped with bench
    "run_child",
    "child",
    "ChildStopped",
    "status",
    "Status",
    "say",
    # reporters
    "ReporterInfo",
    "Findings",
    "Report",
    "ReportOptions",
    "ConfigReport",
    "RunPoint",
    "Summary",
    "md_escape",
    "md_table",
    "latex_escape",
    "latex_breakable",
    "latex_table",
    "num",
    "pm_text",
    "pvalue",
    "summary_rows",
    "latex_pm",
    "plusminus_text",
    "shorten",
    "short_name",
    "CELL_WIDTH",
    "when",
    "workload_text",
    "notes",
    "quality_notes",
    "quality_rows",
    "facts_lines",
    "metric_spec",
    "CORE_METRICS",
    "DEFAULT_METRICS",
    "TOTAL_DEFINITION",
    "Table",
    "Section",
    "SummaryLine",
    "DecisionTable",
    "DecisionColumn",
    "DecisionRow",
    "Cell",
    "ComparisonTable",
    "Conclusion",
    "Picture",
    "bar_chart",
    "runs_chart",
    "roofline_chart",
    "pareto_chart",
    "position_chart",
    "QUALITY_METRICS",
    "QUALITY_LABELS",
    "display_figure",
    "pareto_front",
    "cores_text",
    "energy_json",
    "BANDWIDTH_NOTE",
    "bandwidth_json",
    "bandwidth_rows",
    "latency_json",
    "steps_by_position",
    "unstructure",
]
