"""The core's own hook implementations: defaults that other plugins wrap."""

from __future__ import annotations

import pluggy

from pocketbench.core.api.errors import DeviceError, ParseError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import Job, Metrics, Prepared, ProcessResult, RunRecord
from pocketbench.core.devices.base import Device


def describe_failure(result: ProcessResult) -> str | None:
    """Why a finished process cannot be measured, or None when it can."""
    if result.timed_out:
        return f"timed out after {result.wall_s:.0f} s (raise --timeout if the model is just slow)"
    if result.exit_code is None:
        return "the runtime ended without an exit status"
    if result.exit_code < 0:
        import signal

        try:
            sig = signal.Signals(-result.exit_code).name
        except ValueError:
            sig = f"signal {-result.exit_code}"
        return f"the runtime was killed by {sig}"
    if result.exit_code != 0:
        last = _last_line(result.stderr) or _last_line(result.stdout)
        tail = f": {last}" if last else ""
        return f"the runtime exited with code {result.exit_code}{tail}"
    return None


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line:
            return line[:200]
    return ""


def _plugin_failure(index: int, warmup: bool, what: str, exc: Exception | None) -> RunRecord:
    import traceback

    detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
    trace = "".join(traceback.format_exception(exc)) if exc is not None else ""
    return RunRecord(
        index=index,
        warmup=warmup,
        result=ProcessResult(argv=(), stdout="", stderr=trace, exit_code=None, wall_s=0.0),
        error=f"{what}{detail}",
    )


class CorePlugin:
    """Registered in every job's manager, next to exactly one backend."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._hook = pm.hook

    @hookimpl(trylast=True)
    def pocketbench_warmup(
        self, job: Job, device: Device, prepared: Prepared, index: int
    ) -> ProcessResult:
        return self._hook.pocketbench_run(job=job, device=device, prepared=prepared, index=index)

    @hookimpl(trylast=True)
    def pocketbench_execute(
        self, job: Job, device: Device, prepared: Prepared, index: int, warmup: bool
    ) -> RunRecord:
        phase = self._hook.pocketbench_warmup if warmup else self._hook.pocketbench_run
        name = "warmup" if warmup else "run"
        try:
            result = phase(job=job, device=device, prepared=prepared, index=index)
        except DeviceError:
            raise
        except Exception as exc:  # a plugin's bug must not lose the campaign
            return _plugin_failure(
                index, warmup, f"the {job.backend} backend raised in {name}", exc
            )
        if not isinstance(result, ProcessResult):
            return _plugin_failure(
                index, warmup, f"the {job.backend} backend's {name} hook returned {result!r}", None
            )
        error = describe_failure(result)
        metrics: Metrics | None = None
        if error is None:
            try:
                metrics = self._hook.pocketbench_parse(job=job, prepared=prepared, result=result)
            except ParseError as exc:
                error = f"unparseable output: {exc}"
            except Exception as exc:
                error = f"the {job.backend} backend's parser raised {type(exc).__name__}: {exc}"
            if metrics is None and error is None:
                error = "the backend's parser returned no metrics"
        if metrics is not None and metrics.peak_rss_bytes is None and result.peak_rss_bytes:
            import attrs

            metrics = attrs.evolve(metrics, peak_rss_bytes=result.peak_rss_bytes)
        if metrics is not None and metrics.latency is None and result.arrivals is not None:
            # A backend that did not place the tokens in its output itself:
            # the last pieces are its tokens, and the consistency check says if not.
            import attrs

            from pocketbench.core.api import tokentimes

            latency = tokentimes.measure(
                result.arrivals,
                gen_tokens=metrics.gen_tokens,
                generation_tps=metrics.generation_tps,
            )
            metrics = attrs.evolve(metrics, latency=latency)
        elif metrics is not None and metrics.latency is None and result.arrivals_problem:
            import attrs

            from pocketbench.core.api.tokentimes import TokenLatency

            metrics = attrs.evolve(metrics, latency=TokenLatency(declined=result.arrivals_problem))
        return RunRecord(index=index, warmup=warmup, result=result, metrics=metrics, error=error)
