"""The public API for backend authors: everything a backend needs.

A backend imports from here (and, in its tests, from :mod:`pocketbench.testing`)
and never from ``pocketbench.core``: what is named here is kept stable, the
core's own modules are not.  docs/plugins.md is written against this module
and docs/api.md lists every name.

Backends implement the phase hooks (:func:`hookimpl` on functions named like
the hookspecs: ``pocketbench_backend_info``, ``pocketbench_prepare``,
``pocketbench_run``, ``pocketbench_parse``, ...).  Reporters use
:mod:`pocketbench.report`.
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
    DeviceFile,
    Job,
    MetricInfo,
    Metrics,
    OptionInfo,
    Prepared,
    ProcessResult,
    QuantScheme,
    Readings,
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
    temp_dir_beside,
    write_atomic,
    write_checked,
)
from pocketbench.core.kit.children import ChildStopped, child, run_child
from pocketbench.core.kit.elf import ElfInfo, check_executable_abi, read_elf
from pocketbench.core.kit.fetch import PackagedArchive, PackagedFile, fetch_archive, fetch_member
from pocketbench.core.kit.prompt import NEUTRAL_TEXT, NEUTRAL_WORDS, CountFn, exact_prompt
from pocketbench.core.kit.realmodels import REAL_MODELS, RealModel, get_real_model, real_model_file
from pocketbench.core.kit.status import Status, say, status
from pocketbench.core.kit.zig import ZIG_VERSION, ZigToolchain, find_zig

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
    "DeviceFile",
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
    # a prompt of exactly N tokens for your tokenizer
    "exact_prompt",
    "CountFn",
    "NEUTRAL_TEXT",
    "NEUTRAL_WORDS",
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
    "temp_dir_beside",
    "write_atomic",
    "publish",
    "cached",
    "cached_dir",
    "publish_dir",
    "write_checked",
    # pinned packages from PyPI: a file out of one, or the archive itself (a source tree)
    "PackagedArchive",
    "PackagedFile",
    "fetch_archive",
    "fetch_member",
    # helper processes of prepare (builds, quantizing, exports): stopped with bench
    "run_child",
    "child",
    "ChildStopped",
    "status",
    "Status",
    "say",
]
