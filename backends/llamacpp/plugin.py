"""The llama.cpp backend plugin: hook implementations (entry point ``llamacpp``).

The job's plugin manager holds this module as its only backend, so no hook
asks whether a job is its own.  The work lives in the modules beside this
one: :mod:`.build` (tools from source), :mod:`.gguf_synth` (presets),
:mod:`.quantize`, :mod:`.prepare`, :mod:`.parse`.

Cross-check (``job.options["crosscheck"]`` truthy): right after the first
measured run (index 0; warm-ups never) llama-bench runs once for the same
model, threads and prompt/generation sizes, at the job's depth where the
build allows (:mod:`.crosscheck`), and its figures (``llamabench_pp_tps``,
``llamabench_tg_tps`` at the job's depth, ``llamabench_tg_empty_tps``,
``llamabench_pg_tps``, with standard deviations) are added to that run's
``Metrics.extra``; the job's description states which figure pairs with which.
"""

from __future__ import annotations

import attrs

from pocketbench.backends.llamacpp import crosscheck, parse
from pocketbench.plugin import (
    BackendInfo,
    DecodeBytes,
    Device,
    DeviceFile,
    ImportedResults,
    Job,
    Metrics,
    ParseError,
    Prepared,
    ProbeToolchain,
    ProcessResult,
    QualityRequest,
    QualityResult,
    TokenLatency,
    hookimpl,
    say,
    token_latency,
)


@hookimpl
def pocketbench_backend_info() -> BackendInfo:
    from pocketbench.backends.llamacpp import build, importers, quantize
    from pocketbench.backends.llamacpp.options import OPTIONS

    return BackendInfo(
        description="llama.cpp command-line tools (llama-completion; llama-bench cross-check)",
        version=f"llama-cpp-python {build.LCP_VERSION} source (llama.cpp {build.LLAMACPP_COMMIT})",
        schemes=quantize.schemes(),
        default_scheme="baseline",
        options=OPTIONS,
        metrics=crosscheck.METRICS,
        imports=importers.FORMATS,
    )


@hookimpl
def pocketbench_import(path: str, text: str) -> ImportedResults | None:
    """llama-bench output (every ``-o`` format) and llama.cpp run logs; see :mod:`.importers`."""
    from pocketbench.backends.llamacpp import importers

    return importers.read(path, text)


@hookimpl
def pocketbench_prepare(job: Job, device: Device) -> Prepared:
    from pocketbench.backends.llamacpp.prepare import prepare

    return prepare(job, device)


@hookimpl
def pocketbench_device_files(job: Job, device: Device) -> list[DeviceFile]:
    from pocketbench.backends.llamacpp.prepare import device_files

    return device_files(job, device)


@hookimpl
def pocketbench_decode_bytes(job: Job, prepared: Prepared) -> DecodeBytes:
    # The header of the file that runs (quantized, if it was): a few MB read, no tensor data.
    from pocketbench.backends.llamacpp.decode_bytes import decode_bytes
    from pocketbench.backends.llamacpp.gguf_info import read_gguf_info

    return decode_bytes(read_gguf_info(prepared.state.model_local))


@hookimpl
def pocketbench_probe_toolchain(job: Job, device: Device) -> ProbeToolchain | None:
    # The tools pocketbench cross-builds for a phone: the core's probe and token launcher
    # are built and placed like them.
    # This host's tools and a user's own build (--llamacpp-bin) leave it to the core.
    from pocketbench.backends.llamacpp import crossbuild, tools

    if device.is_local or tools.user_bin_dir(job) is not None:
        return None
    toolchain, bin_dir = crossbuild.probe_toolchain(device)
    if bin_dir is None:
        return toolchain
    return attrs.evolve(toolchain, device_dir=tools.device_folder(bin_dir))


@hookimpl
def pocketbench_warmup(job: Job, device: Device, prepared: Prepared, index: int) -> ProcessResult:
    # The same command as a measured run; implemented here only so that the
    # cross-check below never runs on a warm-up.
    st = prepared.state
    return device.run(st.argv, timeout=job.workload.timeout_s, env=st.env or None)


@hookimpl
def pocketbench_run(job: Job, device: Device, prepared: Prepared, index: int) -> ProcessResult:
    st = prepared.state
    result = device.run(st.argv, timeout=job.workload.timeout_s, env=st.env or None)
    if st.bench_argv is not None and not st.crosscheck_done and index == 0 and result.ok:
        st.crosscheck_done = True
        bench = device.run(st.bench_argv, timeout=job.workload.timeout_s * 4, env=st.env or None)
        try:
            if not bench.ok:
                raise ParseError(f"exit code {bench.exit_code}, timed out: {bench.timed_out}")
            st.crosscheck_figures = crosscheck.figures(
                bench.stdout, job.workload, st.crosscheck_mode
            )
            st.crosscheck_for = result
        except ParseError as exc:
            say(f"llama-bench cross-check failed ({exc}); runs are unaffected")
    return result


@hookimpl
def pocketbench_parse(job: Job, prepared: Prepared, result: ProcessResult) -> Metrics:
    """Metrics from llama.cpp's own timing lines; see :meth:`parse.RunTimings.to_metrics`.

    ``ttft_ms`` excludes load time: prompt evaluation plus the first token's
    sampling.  Timing lines are read from stderr, where llama.cpp logs them,
    so generated text on stdout can never be mistaken for them.
    """
    failure = _failure(result)
    if failure:
        raise ParseError(failure)
    try:
        timings = parse.RunTimings.from_log(result.stderr)
    except ParseError as exc:
        try:  # builds that log to stdout
            timings = parse.RunTimings.from_log(result.stdout)
        except ParseError:
            if "generate:" in result.stderr or "sampler" in result.stderr:
                # It ran and exited cleanly but its last log lines are gone: the
                # asynchronous logger of 2025-26 builds can lose them at exit.
                raise ParseError(
                    f"{exc}; the runner exited normally but its output stops before the timing "
                    "lines (a llama.cpp build whose logger loses lines at exit?)"
                ) from None
            raise exc from None
    w = job.workload
    metrics = timings.to_metrics(
        prompt_tokens=w.prompt_tokens, gen_tokens=w.gen_tokens, peak_rss_bytes=result.peak_rss_bytes
    )
    st = prepared.state
    if st is not None and st.crosscheck_for is result:
        metrics = attrs.evolve(metrics, extra={**metrics.extra, **st.crosscheck_figures})
    if result.arrivals is not None:
        metrics = attrs.evolve(metrics, latency=_latency(result, metrics))
    return metrics


def _latency(result: ProcessResult, metrics: Metrics) -> TokenLatency:
    """The tokens' arrival times: llama-completion writes and flushes each token as it
    is sampled, then ends its output with a blank line (``LOG("\\n\\n")``), no token."""
    # Offsets from the raw byte count (the text was decoded with replacement characters).
    arrivals = result.arrivals or ()
    size = arrivals[-1][1] if arrivals else 0
    end = size - 2 if result.stdout.endswith("\n\n") else size
    return token_latency(
        arrivals,
        gen_tokens=metrics.gen_tokens,
        generation_tps=metrics.generation_tps,
        stdout_end=end,
    )


def _failure(result: ProcessResult) -> str | None:
    """Why a run has no figures to parse (the core usually says so first)."""
    if result.timed_out:
        return f"timed out after {result.wall_s:.0f} s"
    if result.exit_code is not None and result.exit_code < 0:
        import signal

        try:
            name = signal.Signals(-result.exit_code).name
        except ValueError:
            name = f"signal {-result.exit_code}"
        return f"the runner was killed by {name}"
    if result.exit_code not in (0, None):
        last = (result.stderr.strip().splitlines() or [""])[-1][:200]
        return f"the runner exited with code {result.exit_code}" + (f": {last}" if last else "")
    return None


@hookimpl
def pocketbench_quality(
    job: Job, device: Device, prepared: Prepared, request: QualityRequest
) -> QualityResult:
    """llama-perplexity's KL-divergence mode; see :mod:`.quality`."""
    from pocketbench.backends.llamacpp.quality import measure

    return measure(job, device, prepared, request)
