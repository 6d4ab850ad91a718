"""The hooks pocketbench plugins implement.

Every hook is prefixed ``pocketbench_``.  A job's plugin manager holds exactly
one backend plugin (the one the user selected), the built-in defaults and the
cross-cutting wrappers (progress, device readings, cooldown); so a backend
implements its hooks without asking "is this job mine?".

A job runs the phases in this order::

    pocketbench_backend_info           once, to validate the quantization name
    pocketbench_device_files           once per job on a phone, before any job of the
                                       phone is prepared: what prepare will push (optional)
    pocketbench_prepare                once per job (cached work is skipped)
    pocketbench_decode_bytes           once per job: bytes a decode step reads (optional)
    pocketbench_probe_toolchain        once per job on a phone: how to build the
                                       bandwidth probe like the runtime (optional)
    pocketbench_execute(warmup=True)   ``job.warmup`` times -> pocketbench_warmup
    pocketbench_execute(warmup=False)  ``job.runs`` times   -> pocketbench_run
        each followed by pocketbench_parse; each record is stored as it ends
    pocketbench_quality                with ``--quality``: once for the reference,
                                       once for the configuration (cached)

Reporter plugins are loaded into a manager of their own and implement
``pocketbench_reporter_info`` and ``pocketbench_render``.

``bench import`` asks every backend, each in a manager of its own, to
recognise a file through ``pocketbench_import``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketbench.core.api.hooks import hookspec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pocketbench.core.api.bandwidth import DecodeBytes, ProbeToolchain
    from pocketbench.core.api.imported import ImportedResults
    from pocketbench.core.api.model import (
        BackendInfo,
        DeviceFile,
        Job,
        Metrics,
        Prepared,
        ProcessResult,
        ReporterInfo,
        RunRecord,
    )
    from pocketbench.core.api.quality import QualityRequest, QualityResult
    from pocketbench.core.devices.base import Device
    from pocketbench.core.results.findings import Findings
    from pocketbench.core.results.report import Report, ReportOptions


# -- backends -----------------------------------------------------------------


@hookspec(firstresult=True)
def pocketbench_backend_info() -> BackendInfo:
    """Describe the backend: version, description and quantization schemes.

    Called when ``bench plugins`` lists backends and before a job starts, to
    check the requested ``--quant`` (an unknown name is answered with the
    list of :attr:`BackendInfo.schemes`).  Must be cheap: no runtime imports,
    no builds.

    :return: a :class:`~pocketbench.core.api.model.BackendInfo`.  First non-None
        result wins.
    """


@hookspec(firstresult=True)
def pocketbench_prepare(job: Job, device: Device) -> Prepared:
    """Make the runtime and the model ready on ``device``.

    Called once per job, before any warm-up.  Builds or locates the runtime,
    makes, converts or quantizes the model, and pushes files to the device.
    Work already done is found in the cache and skipped, so a second job with
    the same configuration prepares in about a second.

    :param job: the configuration (``job.quant`` is the canonical scheme name).
    :param device: where the runs happen; talk to it only through its interface.
    :return: a :class:`~pocketbench.core.api.model.Prepared`; its ``describe``
        (tool versions, build commit, model hash, actual quantization type)
        is stored with the job.  First non-None result wins.
    :raises SetupError: with one line saying what is missing and what to do.
    """


@hookspec(firstresult=True)
def pocketbench_device_files(job: Job, device: Device) -> Sequence[DeviceFile]:
    """Say which files :func:`pocketbench_prepare` will push to ``device`` for ``job``.

    Called once per configuration on a phone (never on this host) before any
    configuration of that phone is prepared.  In interleaved order every
    configuration is pushed before round 1, so the core first compares what
    the phone does not hold yet with its free storage, and stops in one
    line, before anything is pushed, when it does not fit.  Make the files
    on this host (build, export, quantize: cached work that ``prepare`` then
    finds) but push nothing, and name each as ``prepare`` pushes it.  Files
    of a few kilobytes made from the device's own answers (a prompt sized
    by the device's tokenizer) may be left out.  Optional: without it the
    configuration is not counted, and a push that does not fit fails with
    the phone's own "no space" line.

    :return: the :class:`~pocketbench.core.api.model.DeviceFile` s.  First
        non-None result wins.
    :raises SetupError: as ``prepare`` would; the configuration is then not
        counted, and ``prepare`` reports the same line.
    """


@hookspec(firstresult=True)
def pocketbench_decode_bytes(job: Job, prepared: Prepared) -> DecodeBytes:
    """Say how many bytes one decode step of the prepared model reads.

    Called once per job, right after :func:`pocketbench_prepare`, so that
    reports can place the generation speed against the device's measured
    memory bandwidth (MBU).  Read it from the model file itself (tensor
    types and sizes), not from a preset's description: the user's own file
    is what runs.  Optional: a backend without it gets speed results and a
    note that MBU needs it.

    :param prepared: what this backend's prepare returned (its ``state``
        knows the local model file).
    :return: a :class:`~pocketbench.core.api.bandwidth.DecodeBytes`.  First
        non-None result wins.
    :raises SetupError: with one line when the model's size cannot be read
        (an exotic file); the job's speed results are measured and reported
        as usual, without MBU.
    """


@hookspec(firstresult=True)
def pocketbench_probe_toolchain(job: Job, device: Device) -> ProbeToolchain | None:
    """Say how the core's memory-bandwidth probe is built for ``device``, and where it goes.

    Called once per job after :func:`pocketbench_prepare`, before the probe
    runs (only when its figure is not cached), and on a phone for the
    core's token launcher (per-token times), which is built and placed the
    same way.  A backend that builds its runtime for the device (a cross
    compiler) returns that compiler and its runtime's device folder, so the
    probe and the launcher are built the way the runtime was and pushed
    beside it.  Optional: without an answer the core builds them itself
    (the host's compiler here, zig for a phone).

    :return: a :class:`~pocketbench.core.api.bandwidth.ProbeToolchain`, or
        None to leave it to the core.  First non-None result wins.
    :raises SetupError: with one line when the toolchain cannot be had; the
        job's speed results are measured and reported as usual, without MBU
        (and on a phone without per-token times).
    """


@hookspec(firstresult=True)
def pocketbench_warmup(job: Job, device: Device, prepared: Prepared, index: int) -> ProcessResult:
    """Run one unrecorded warm-up execution (stored, marked as a warm-up).

    The built-in default runs :func:`pocketbench_run`; implement this only
    when a runtime warms up differently.

    :param index: 0-based warm-up number.
    :return: the :class:`~pocketbench.core.api.model.ProcessResult`.  First non-None
        result wins.
    """


@hookspec(firstresult=True)
def pocketbench_run(job: Job, device: Device, prepared: Prepared, index: int) -> ProcessResult:
    """Run one measured execution of the workload on the device.

    Must run exactly ``job.workload``: a prompt of ``prompt_tokens`` tokens,
    ``gen_tokens`` new tokens with end of sequence ignored, ``threads``
    threads, within ``job.workload.timeout_s`` seconds.  A crash, a timeout
    or a non-zero exit is not an exception: return the result, and the core
    stores it with its raw output.

    :param index: 0-based run number.
    :return: the :class:`~pocketbench.core.api.model.ProcessResult` from
        :meth:`Device.run`.  First non-None result wins.
    """


@hookspec(firstresult=True)
def pocketbench_parse(job: Job, prepared: Prepared, result: ProcessResult) -> Metrics:
    """Turn one execution's raw output into metrics.

    Called for warm-ups and measured runs whose process exited normally.

    :return: :class:`~pocketbench.core.api.model.Metrics` with the rates defined
        in that class.  First non-None result wins.
    :raises ParseError: when the output holds no usable timing figures.
    """


@hookspec(firstresult=True)
def pocketbench_execute(
    job: Job, device: Device, prepared: Prepared, index: int, warmup: bool
) -> RunRecord:
    """One execution from start to stored record: run (or warm up), then parse.

    Implemented by the core; plugins wrap it (``@hookimpl(wrapper=True)``)
    for cross-cutting concerns: cooldown before a run, device readings
    around it, progress display after it.  Wrappers may return an evolved
    record (for instance with readings attached).

    :return: a :class:`~pocketbench.core.api.model.RunRecord`.
    """


@hookspec(firstresult=True)
def pocketbench_import(path: str, text: str) -> ImportedResults | None:
    """Recognise a file of results the user already has and read every figure it holds.

    Called by ``bench import`` once per file and backend, each backend in a
    plugin manager of its own (so ``None`` here only means "not a format
    of this backend", never "not my job").  The core has already refused
    files too large to read, hashed the bytes, and decoded them as UTF-8
    with undecodable bytes replaced; it stores what is returned in one
    transaction, with the raw text and the file's sha256, marked imported.

    Format knowledge stays in the backend: which tool printed the file,
    which version's layout it is, what it says about the device, build and
    model.  Repetitions the file holds one by one become
    :class:`~pocketbench.core.api.imported.ImportedRun`; figures held only
    as mean ± sd become :class:`~pocketbench.core.api.imported.ImportedSummary`
    (never invented samples).  An impossible value is never a figure: its
    run carries ``error`` naming the field, or the import fails.

    :param path: the file's path as the user gave it (for messages only).
    :param text: the whole file as text.
    :return: :class:`~pocketbench.core.api.imported.ImportedResults` when the
        backend knows the format, else None.  First non-None result wins.
    :raises ImportFormatError: the format is this backend's but the file is
        unusable (truncated JSON, no timing lines, two models in one log);
        its ``line`` says where, and nothing of the file is stored.
    """


@hookspec(firstresult=True)
def pocketbench_quality(
    job: Job, device: Device, prepared: Prepared, request: QualityRequest
) -> QualityResult:
    """Measure the output quality of the prepared model over an evaluation text.

    Called with ``--quality`` (or ``quality = true`` in a study) after the
    configuration's runs, on this host (``device`` is the local device) with
    the exact model file the measured device got: ``prepared`` comes from
    :func:`pocketbench_prepare` on the local device.  The core calls it twice
    per comparison and caches both answers by (model file sha256, text
    sha256, protocol), so a re-run or a resumed study computes nothing again:

    - ``request.make_reference`` true: this is the reference configuration.
      Tokenize ``request.text`` with the model's own tokenizer, cut it into
      ``request.protocol.chunks`` windows of ``request.protocol.ctx`` tokens
      (raise ``request.protocol.too_short(...)`` when it has fewer than
      ``protocol.tokens_needed``), and write ``request.reference`` in
      llama.cpp's KL-divergence base format (:mod:`pocketbench.plugin`'s
      ``logprobs`` helpers write it from logits).  Return the perplexity
      figures and ``chunk_bos``: the token that replaced each window's first
      token, or None.
    - otherwise: read the tokens and reference log-probabilities from
      ``request.reference``, evaluate the same windows (replacing each
      window's first token by ``request.chunk_bos`` when it is set) and return
      KL divergence, top-1 agreement and perplexity against the reference.

    The protocol (which positions are scored, how KL is summed) is in
    docs/method.md; every backend follows it so figures compare across runtimes.

    :param request: a :class:`~pocketbench.core.api.quality.QualityRequest`.
    :return: a :class:`~pocketbench.core.api.quality.QualityResult`.  First
        non-None result wins; a backend without the hook cannot measure quality
        (the core says so in one line).
    :raises UsageError: the text is too short for the protocol, or the
        reference's vocabulary differs from the model's.
    :raises SetupError: the quality tool is missing or the model's logits
        cannot be read.
    """


# -- reporters ----------------------------------------------------------------


@hookspec(firstresult=True)
def pocketbench_reporter_info() -> ReporterInfo:
    """Describe the reporter: what it writes and the file extension.

    :return: a :class:`~pocketbench.core.api.model.ReporterInfo`.  First non-None
        result wins.
    """


@hookspec(firstresult=True)
def pocketbench_render(report: Report, options: ReportOptions) -> str | bytes:
    """Render stored results.

    :param report: the configurations with their statistics, built from the
        store by :func:`pocketbench.core.results.build.build_report`.
    :param options: presentation choices (which ± to print, title).
    :return: the document as text (or bytes for binary formats).  First
        non-None result wins.
    """


@hookspec(firstresult=True)
def pocketbench_render_findings(findings: Findings, options: ReportOptions) -> str | bytes:
    """Render a study's findings document (``bench study --format NAME``).

    Optional: a reporter that implements it is offered by ``bench study``.
    The wording (conclusions, caveats, p-values) is already in ``findings``,
    so every format says the same; a reporter only lays it out.

    :param findings: the study's summary, decision table, the Galaxy A25
        study's tables, comparison tables, caveats and method, built from the
        store by the core, as data; ``findings.pictures`` are files already
        written beside the document (paths relative to it), empty when the
        document goes to standard output.
    :param options: presentation choices (which ± to print, title).
    :return: the document as text (or bytes).  First non-None result wins.
    """
