"""``prepare`` for llama.cpp: tools, model, quantization, prompt, argv.

Everything slow is cached (tool build, preset file, quantized file, sized
prompt, file hashes), so preparing a configuration a second time takes well
under a second.  The result is a :class:`LlamaState` holding the exact argv
every run executes.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path

from attrs import define, field, frozen

from pocketbench.backends.llamacpp import parse, prompt, quantize, tools
from pocketbench.backends.llamacpp.crosscheck import plan as plan_crosscheck
from pocketbench.backends.llamacpp.gguf_info import GGUFInfo, read_gguf_info
from pocketbench.plugin import (
    PRESETS,
    REAL_MODELS,
    Device,
    DeviceFile,
    Job,
    Prepared,
    ProcessResult,
    SetupError,
    Workload,
    cache_dir,
    cached,
    file_digest,
    get_preset,
    get_real_model,
    hash_text,
    real_model_file,
    write_checked,
)

#: Context slack beyond prompt + generated tokens: llama-completion refuses
#: prompts longer than n_ctx - 4 and shifts the context when it is full.
CTX_SLACK = 16
_TOKENIZE_TIMEOUT_S = 120.0
#: ``_resolve_model``'s source for a real-weight preset (its baseline is made next).
REAL = "real preset"


@define(kw_only=True)
class LlamaState:
    """What the run and parse hooks need (``Prepared.state``)."""

    tools: tools.DeviceTools
    model_local: Path
    model_device: str
    prompt_device: str
    #: The exact command of every run (warm-ups and measured runs alike).
    argv: tuple[str, ...]
    env: dict[str, str]
    #: llama-bench command of the cross-check, or None when not asked.
    bench_argv: tuple[str, ...] | None = None
    #: The run whose metrics carry the cross-check figures, and the figures.
    crosscheck_for: ProcessResult | None = None
    crosscheck_figures: dict[str, float] = field(factory=dict)
    crosscheck_done: bool = False
    #: How llama-bench runs at the job's depth (see :mod:`.crosscheck`).
    crosscheck_mode: str = ""


@frozen(kw_only=True)
class LocalModel:
    """The GGUF a job runs, made on this host (quantized if asked), before it is pushed."""

    path: Path
    info: GGUFInfo
    source: str
    quantized_with: str

    @property
    def device_file(self) -> DeviceFile:
        return DeviceFile(local=self.path, name=f"{tools.DEVICE_DIR}/models/{self.path.name}")


def device_files(job: Job, device: Device) -> list[DeviceFile]:
    """What :func:`prepare` pushes to a phone (tools and model), made here first; see the hookspec.

    The sized prompt (a few hundred bytes, sized by the phone's own tokenizer) is left out.
    """
    model = local_model(job, device)
    crosscheck = _truthy(job.options.get("crosscheck"))
    host = tools.host_tools(job, device, want_bench=crosscheck)
    return [*host.device_files(), model.device_file]


def local_model(job: Job, device: Device) -> LocalModel:
    """Resolve ``job.model`` and quantize it to ``job.quant`` (cached) on this host."""
    scheme = quantize.canonical(job.quant)
    model, info, user_file, source = _resolve_model(job.model)
    if source == REAL:
        model, info, source = _real_baseline(job, device, model)
    target = quantize.target_type(scheme, info, user_file=user_file)
    quantized_with = "none (used as is)"
    if target is not None:
        qtool = tools.host_tool(job, device, "llama-quantize")
        commit = tools.tool_commit(qtool)
        model = quantize.quantize(
            model,
            file_digest(model),
            target,
            tool=qtool,
            tool_commit=commit,
            threads=os.cpu_count() or 1,
        )
        info = read_gguf_info(model)
        quantized_with = f"llama-quantize {target} (commit {commit})"
    return LocalModel(path=model, info=info, source=source, quantized_with=quantized_with)


def prepare(job: Job, device: Device) -> Prepared:
    """Make tools, model and prompt ready on ``device``; see the hookspec."""
    w = job.workload
    crosscheck = _truthy(job.options.get("crosscheck"))
    # The model is made first: a bad path is reported before a tool build.
    made = local_model(job, device)
    model, info, source, quantized_with = made.path, made.info, made.source, made.quantized_with
    dev_tools = tools.locate(job, device, want_bench=crosscheck)
    digest = file_digest(model)
    model_device = device.push(model, made.device_file.name)

    count = _counter(job, device, dev_tools, model, model_device)
    prompt_file = _sized_prompt(w, digest, dev_tools, count)
    prompt_device = device.push(prompt_file, f"{tools.DEVICE_DIR}/prompts/{prompt_file.name}")

    argv = run_argv(dev_tools, model_device, prompt_device, w)
    check = None
    if crosscheck:
        assert dev_tools.bench is not None
        # The flags decide how llama-bench can run at the job's depth.
        help_text = tools.help_text(device, dev_tools.bench, dev_tools.env)
        check = plan_crosscheck(dev_tools.bench, help_text, model_device, w)
    bench_argv = check.argv if check is not None else None
    state = LlamaState(
        tools=dev_tools,
        model_local=model,
        model_device=model_device,
        prompt_device=prompt_device,
        argv=argv,
        env=dev_tools.env,
        bench_argv=bench_argv,
        crosscheck_mode=check.mode if check is not None else "",
    )
    describe = {
        "tool": dev_tools.runner_name,
        "tool_source": dev_tools.source,
        "tool_version": dev_tools.version.version,
        "build_commit": dev_tools.version.commit,
        "built_with": dev_tools.version.built_with,
        "model_source": source,
        "model_file": str(model),
        "model_device_path": model_device,
        "model_sha256": digest,
        "model_bytes": str(model.stat().st_size),
        "architecture": info.architecture,
        "file_type": info.file_type,
        "quant_type": info.quant_type,
        "params": str(info.n_params),
        "quantized_with": quantized_with,
        "prompt_sha256": hash_text(prompt_file.read_text(encoding="utf-8")),
        "argv": shlex.join(argv),
        **dev_tools.build_info,
    }
    if check is not None:
        describe["crosscheck_argv"] = shlex.join(check.argv)
        describe["crosscheck_pairing"] = check.pairing
    return Prepared(describe=describe, state=state)


def run_argv(t: tools.DeviceTools, model: str, prompt_file: str, w: Workload) -> tuple[str, ...]:
    """The runner's argv for workload ``w``: never shell text, the prompt comes from a file."""
    argv = [
        t.runner, "-m", model, "-f", prompt_file,
        "-n", str(w.gen_tokens), "-t", str(w.threads),
        "-c", str(w.prompt_tokens + w.gen_tokens + CTX_SLACK),
        # Greedy sampling and EOS ignored: exactly gen_tokens new tokens.
        "--temp", "0", "--ignore-eos",
    ]  # fmt: skip
    if "-b" in t.flags:
        # The whole prompt in one batch: a 1-token tail batch would be counted
        # by llama.cpp as generation, not prompt evaluation.
        argv += ["-b", str(max(2048, w.prompt_tokens))]
    # Plain completion (no chat template), prompt text taken literally, and
    # the prompt not echoed to stdout.
    argv += [f for f in ("-no-cnv", "--no-escape", "--no-display-prompt") if f in t.flags]
    if w.cores and "--cpu-mask" in t.flags:
        # The core pins the process (taskset, sched_setaffinity); llama.cpp's own
        # mask also places each thread, which some Android builds otherwise ignore.
        argv += ["--cpu-mask", format(sum(1 << c for c in w.cores), "x")]
        if "--cpu-strict" in t.flags:
            argv += ["--cpu-strict", "1"]
    return tuple(argv)


def _resolve_model(name: str) -> tuple[Path, GGUFInfo, bool, str]:
    """(file, header info, given by the user?, description) of ``--model``."""
    real = get_real_model(name)
    if real is not None:
        path = real_model_file(real)
        return path, read_gguf_info(path), False, REAL
    spec = get_preset(name)
    if spec is not None:
        from pocketbench.backends.llamacpp import gguf_synth

        path = gguf_synth.ensure_preset(spec)
        return (
            path,
            read_gguf_info(path),
            False,
            f"synthetic preset {spec.name} (random weights, F16)",
        )
    path = Path(name).expanduser()
    if not path.exists():
        presets = ", ".join([*PRESETS, *REAL_MODELS])
        raise SetupError(
            f"{name}: no such file, and not a preset ({presets}); pass a preset or a GGUF path"
        )
    return path.resolve(), read_gguf_info(path), True, "user file"


def _real_baseline(job: Job, device: Device, published: Path) -> tuple[Path, GGUFInfo, str]:
    """A real preset's F16 baseline: the published file dequantized by llama-quantize."""
    info = read_gguf_info(published)
    if info.is_float:
        return published, info, f"real preset {job.model} ({info.quant_type} as published)"
    qtool = tools.host_tool(job, device, "llama-quantize")
    commit = tools.tool_commit(qtool)
    f16 = quantize.quantize(
        published,
        file_digest(published),
        "F16",
        tool=qtool,
        tool_commit=commit,
        threads=os.cpu_count() or 1,
        allow_requantize=True,
    )
    return (
        f16,
        read_gguf_info(f16),
        f"real preset {job.model}: F16 dequantized from the published {info.quant_type} GGUF "
        f"by llama-quantize --allow-requantize (commit {commit})",
    )


def _counter(
    job: Job, device: Device, t: tools.DeviceTools, model_local: Path, model_device: str
) -> prompt.CountFn:
    """Counts tokens with the device's llama-tokenize, else the host's."""
    if t.tokenize is not None:
        tok, tok_device, model_arg, env = t.tokenize, device, model_device, t.env
    else:
        from pocketbench.plugin import LocalDevice

        tok = str(tools.host_tool(job, device, "llama-tokenize"))
        tok_device, model_arg, env = LocalDevice(), str(model_local), {}
    memo: dict[str, int] = {}

    def count(text: str) -> int:
        if text in memo:
            return memo[text]
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "count.txt"
            local.write_text(text, encoding="utf-8")
            remote = tok_device.push(local, f"{tools.DEVICE_DIR}/prompts/count.txt")
            argv = [tok, "-m", model_arg, "-f", remote, "--ids", "--no-escape", "--log-disable"]
            result = tok_device.run(argv, timeout=_TOKENIZE_TIMEOUT_S, env=env or None)
        if not result.ok:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise SetupError(f"llama-tokenize failed on {model_arg}: {last}")
        memo[text] = len(parse.token_ids(result.stdout))
        return memo[text]

    return count


def _sized_prompt(
    w: Workload, model_digest: str, t: tools.DeviceTools, count: prompt.CountFn
) -> Path:
    """The prompt file of exactly ``w.prompt_tokens`` tokens (cached)."""
    text_key = hash_text(w.prompt) if w.prompt is not None else "neutral"
    path = (
        cache_dir("llamacpp", "prompts")
        / f"{model_digest[:16]}-{w.prompt_tokens}-{text_key}-{t.version.commit}.txt"
    )
    if not cached(path):
        text = prompt.exact_prompt(w.prompt_tokens, count, w.prompt)
        write_checked(path, text.encode("utf-8"))
    return path


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() not in ("", "0", "false", "no", "off")
