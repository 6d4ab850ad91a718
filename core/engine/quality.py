"""Quality beside speed: measure a configuration against its reference, cache, store.

After a configuration's runs, :func:`measure` prepares the configuration and
its reference on this host (the same model files the device got), asks the
reference's backend for the reference log-probabilities once and the
configuration's backend for the comparison (``pocketbench_quality``), and
stores the figures beside the runs.  Both steps are cached by (model file
sha256, evaluation text sha256, protocol), so a re-run or a resumed study
recomputes nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
from attrs import define, frozen

from pocketbench.core.api.errors import PocketbenchError, SetupError, UsageError
from pocketbench.core.api.model import Job, Prepared
from pocketbench.core.api.presets import get_preset
from pocketbench.core.api.quality import QualityProtocol, QualityRequest, QualityResult
from pocketbench.core.engine.evaltext import EvalText
from pocketbench.core.kit import status as ui
from pocketbench.core.kit.cache import cache_dir, file_lock, temp_beside, write_atomic
from pocketbench.core.kit.convert import converter
from pocketbench.core.kit.realmodels import REAL_MODELS
from pocketbench.core.results.quality import QualityRecord, record_from_result

#: Bumped when what is cached here changes meaning.
CACHE_VERSION = 1


@frozen(kw_only=True)
class Reference:
    """The configuration compared with; None fields mean "the configuration's own"."""

    backend: str | None = None
    #: None: the reference backend's default scheme (its baseline).
    quant: str | None = None
    model: str | None = None


@define(kw_only=True)
class QualityPlan:
    """What ``--quality`` (or ``quality = true`` in a study) asks for."""

    text: EvalText
    protocol: QualityProtocol = attrs.field(factory=QualityProtocol)
    reference: Reference = attrs.field(factory=Reference)
    #: backend -> scheme that is its baseline (a study's frameworks); else the backend's default.
    baselines: dict[str, str] = attrs.field(factory=dict)


def check_model(model: str) -> None:
    """Quality needs real weights: a random-weight preset is refused before anything runs."""
    if get_preset(model) is not None:
        real = ", ".join(REAL_MODELS)
        raise UsageError(
            f"--quality on {model!r} is meaningless: the preset has random weights, so every "
            f"scheme's output is noise; use a real model ({real}) or your own model file"
        )


def check_context(job: Job, prepared: Prepared, plan: QualityPlan) -> None:
    """A window longer than the prepared model takes is refused before its speed runs.

    A backend that knows the model's context says so as ``max_seq_len`` in its
    description (an ExecuTorch export); without it nothing is assumed.
    """
    raw = str(prepared.describe.get("max_seq_len", ""))
    ctx = plan.protocol.ctx
    if raw.isdigit() and int(raw) < ctx:
        raise UsageError(
            f"--quality-ctx {ctx} (quality_ctx in a study) is more than {label(job)} takes"
            f" (max_seq_len {raw}); use {raw} or less, or prepare the model with a longer context"
        )


def reference_job(job: Job, ref: Reference, default_scheme: str) -> Job:
    backend = ref.backend or job.backend
    return attrs.evolve(
        job,
        backend=backend,
        quant=ref.quant or default_scheme,
        model=ref.model or job.model,
        device="local",
        options=dict(job.options) if backend == job.backend else {},
    )


def label(job: Job) -> str:
    return f"{job.backend} {job.quant} {job.model}"


def measure(registry: Any, job: Job, plan: QualityPlan) -> QualityRecord:
    """The quality of ``job`` against its reference (cached); see the module docstring."""
    from pocketbench.core.devices.local import LocalDevice

    protocol = plan.protocol
    ref_backend = plan.reference.backend or job.backend
    ref_info = registry.backend_info(ref_backend)
    ref = reference_job(
        job, plan.reference, plan.baselines.get(ref_backend, ref_info.default_scheme)
    )
    scheme = ref_info.scheme(ref.quant)
    if scheme is None:
        from pocketbench.core.api.errors import unknown_choice

        raise unknown_choice(
            "reference quantization", ref.quant, ref_info.scheme_names(), f" for {ref_backend!r}"
        )
    ref = attrs.evolve(ref, quant=scheme.name)
    local = LocalDevice()
    here = attrs.evolve(job, device="local")
    cfg_pm = registry.backend_manager(job.backend)
    cfg_prepared = _prepare(cfg_pm, here, local)
    if (ref.backend, ref.quant, ref.model, ref.options) == (
        here.backend,
        here.quant,
        here.model,
        here.options,
    ):
        ref_pm, ref_prepared = cfg_pm, cfg_prepared
    else:
        ref_pm = registry.backend_manager(ref.backend)
        ref_prepared = _prepare(ref_pm, ref, local)
    ref_sha = _model_sha(ref_prepared, ref)
    cfg_sha = _model_sha(cfg_prepared, here)
    threads = max(1, os.cpu_count() or 1)
    tag = f"{plan.text.sha256[:16]}-{protocol.key}-v{CACHE_VERSION}"

    ref_file, ref_result = _reference(ref_pm, ref, local, ref_prepared, ref_sha, plan, threads)
    common = {
        "reference": label(ref),
        "text_name": plan.text.name,
        "text_sha256": plan.text.sha256,
        "protocol": protocol.key,
    }
    if ref_sha == cfg_sha and ref.backend == here.backend:
        return record_from_result(ref_result, is_reference=True, **common)
    memo = (
        cache_dir("quality", "results") / f"{cfg_sha[:20]}-{job.backend}-{ref_sha[:20]}-{tag}.json"
    )
    result = _load(memo)
    if result is None:
        request = QualityRequest(
            text=plan.text.path,
            text_sha256=plan.text.sha256,
            protocol=protocol,
            reference=ref_file,
            make_reference=False,
            chunk_bos=ref_result.chunk_bos,
            threads=threads,
        )
        with ui.status(f"measuring the quality of {label(here)} against {label(ref)} (host)..."):
            result = _call(cfg_pm, here, local, cfg_prepared, request)
        write_atomic(memo, json.dumps(converter().unstructure(result)).encode())
    return record_from_result(result, is_reference=False, **common)


def _prepare(pm: Any, job: Job, device: Any) -> Prepared:
    try:
        prepared = pm.hook.pocketbench_prepare(job=job, device=device)
    except PocketbenchError:
        raise
    except Exception as exc:  # a plugin's bug: one line
        raise SetupError(
            f"the {job.backend} backend failed while preparing for quality: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if prepared is None:
        raise SetupError(f"backend {job.backend!r} prepared nothing")
    return prepared


def _model_sha(prepared: Prepared, job: Job) -> str:
    sha = prepared.describe.get("model_sha256", "")
    if len(sha) != 64:
        raise SetupError(
            f"the {job.backend} backend records no model_sha256 for {job.model}; quality "
            "results could not be cached or matched to the model"
        )
    return sha


def _call(
    pm: Any, job: Job, device: Any, prepared: Prepared, request: QualityRequest
) -> QualityResult:
    if not pm.hook.pocketbench_quality.get_hookimpls():
        raise UsageError(f"the {job.backend} backend cannot measure quality (no quality hook)")
    try:
        result = pm.hook.pocketbench_quality(
            job=job, device=device, prepared=prepared, request=request
        )
    except PocketbenchError:
        raise
    except Exception as exc:
        raise SetupError(
            f"the {job.backend} backend failed while measuring quality: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(result, QualityResult):
        raise SetupError(f"the {job.backend} backend measured no quality (returned {result!r})")
    return result


def _reference(
    pm: Any,
    ref: Job,
    device: Any,
    prepared: Prepared,
    sha: str,
    plan: QualityPlan,
    threads: int,
) -> tuple[Path, QualityResult]:
    """The reference's base file and its own figures (made once, under a lock)."""
    from pocketbench.core.kit.logprobs import read_header

    folder = cache_dir("quality", "refs")
    stem = f"{sha[:20]}-{ref.backend}-{plan.text.sha256[:16]}-{plan.protocol.key}-v{CACHE_VERSION}"
    path, meta = folder / f"{stem}.kld", folder / f"{stem}.json"

    def cached() -> QualityResult | None:
        result = _load(meta)
        if result is None or not path.is_file():
            return None
        try:
            header, _ = read_header(path)
        except SetupError:
            return None
        ok = header.n_ctx == plan.protocol.ctx and header.n_chunk == plan.protocol.chunks
        return result if ok else None

    found = cached()
    if found is not None:
        return path, found
    with file_lock(folder / f"{stem}.lock"):
        found = cached()
        if found is not None:
            return path, found
        with temp_beside(path) as tmp:
            request = QualityRequest(
                text=plan.text.path,
                text_sha256=plan.text.sha256,
                protocol=plan.protocol,
                reference=tmp,
                make_reference=True,
                threads=threads,
            )
            with ui.status(f"evaluating the reference {label(ref)} over the text (host)..."):
                result = _call(pm, ref, device, prepared, request)
            header, _ = read_header(tmp)  # a backend's broken file is caught here
            if header.n_chunk != plan.protocol.chunks or header.n_ctx != plan.protocol.ctx:
                raise SetupError(
                    f"the {ref.backend} backend wrote a reference of {header.n_chunk} chunks of "
                    f"{header.n_ctx} tokens; the protocol asks {plan.protocol.chunks} of "
                    f"{plan.protocol.ctx}"
                )
            tmp.chmod(0o644)
            os.replace(tmp, path)
        write_atomic(meta, json.dumps(converter().unstructure(result)).encode())
    return path, result


def _load(path: Path) -> QualityResult | None:
    """A cached result, or None when absent or not a valid result (then it is recomputed)."""
    try:
        data = json.loads(path.read_text())
        return converter().structure(data, QualityResult)
    except Exception:  # noqa: BLE001 - an unreadable or foreign memo is recomputed
        return None


def make_plan(
    *,
    models: list[str],
    eval_text: str | None,
    ctx: int,
    chunks: int,
    reference: dict[str, str] | None = None,
    baselines: dict[str, str] | None = None,
) -> QualityPlan:
    """The quality request of ``bench run --quality`` or a study, checked before any run.

    :raises UsageError: a random-weight model, a protocol without enough scored
        positions, an unreadable text or a reference with unknown keys.
    :raises SetupError: the default text cannot be fetched (offline, no copy).
    """
    from pocketbench.core.engine.evaltext import eval_text as load_text

    for model in models:
        check_model(model)
    unknown = sorted(set(reference or {}) - {"backend", "quant", "model"})
    if unknown:
        raise UsageError(
            f"quality_reference: unknown key(s) {', '.join(unknown)}; use backend, quant, model"
        )
    protocol = QualityProtocol(ctx=ctx, chunks=chunks)
    protocol.check()
    return QualityPlan(
        text=load_text(eval_text),
        protocol=protocol,
        reference=Reference(**(reference or {})),
        baselines=dict(baselines or {}),
    )
