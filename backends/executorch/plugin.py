"""The ExecuTorch backend plugin (entry point ``executorch``).

Registered into a job's plugin manager as the only backend, so no hook asks
whether a job is its own.  Importing this module is cheap: torch and
executorch are imported by the child processes and inside the phases that
need them, so ``bench --help`` and ``bench plugins`` work without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketbench.plugin import hookimpl

if TYPE_CHECKING:
    from pocketbench.plugin import (
        BackendInfo,
        DecodeBytes,
        Device,
        DeviceFile,
        ImportedResults,
        Job,
        Metrics,
        Prepared,
        ProcessResult,
        QualityRequest,
        QualityResult,
    )


def installed_version() -> str:
    """The installed executorch's version, or "not installed" (metadata only, no import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("executorch")
    except PackageNotFoundError:
        return "not installed"


@hookimpl
def pocketbench_backend_info() -> BackendInfo:
    from pocketbench.plugin import BackendInfo

    from .importers import FORMATS
    from .options import OPTIONS
    from .parse import METRICS
    from .schemes import SCHEMES

    return BackendInfo(
        description=(
            "ExecuTorch with XNNPACK: export_llama models run by TextLLMRunner on this host "
            "or by your llama_main on a phone"
        ),
        version=installed_version(),
        schemes=tuple(s.quant_scheme() for s in SCHEMES),
        default_scheme="baseline",
        imports=FORMATS,
        options=OPTIONS,
        metrics=METRICS,
    )


@hookimpl
def pocketbench_import(path: str, text: str) -> ImportedResults | None:
    """llama_main logs and the benchmark app's JSON; see :mod:`.importers`."""
    from .importers import read

    return read(path, text)


@hookimpl
def pocketbench_prepare(job: Job, device: Device) -> Prepared:
    from .prepare import prepare

    return prepare(job, device)


@hookimpl
def pocketbench_device_files(job: Job, device: Device) -> list[DeviceFile]:
    from .prepare import device_files

    return device_files(job, device)


@hookimpl
def pocketbench_decode_bytes(job: Job, prepared: Prepared) -> DecodeBytes:
    from pathlib import Path

    from .pte_bytes import decode_bytes

    return decode_bytes(Path(prepared.describe["model"]))


@hookimpl
def pocketbench_run(job: Job, device: Device, prepared: Prepared, index: int) -> ProcessResult:
    plan = prepared.state
    return device.run(plan.argv, timeout=job.workload.timeout_s, cwd=plan.cwd)


@hookimpl
def pocketbench_parse(job: Job, prepared: Prepared, result: ProcessResult) -> Metrics:
    from .parse import metrics_for

    return metrics_for(job.workload, result)


@hookimpl
def pocketbench_quality(
    job: Job, device: Device, prepared: Prepared, request: QualityRequest
) -> QualityResult:
    """The timed .pte's logits through ExecuTorch's runtime; see :mod:`.quality`."""
    from .quality import measure

    return measure(job, prepared, request)
