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

from attrs import define, field

from pocketbench.backends.llamacpp import parse, prompt, quantize, tools
from pocketbench.backends.llamacpp.gguf_info import GGUFInfo, read_gguf_info
from pocketbench.plugin import (
    PRESETS,
    Device,
    Job,
    Prepared,
    ProcessResult,
    SetupError,
    Workload,
    cache_dir,
    file_digest,
    get_preset,
    hash_text,
    write_atomic,
)

#: Context slack beyond prompt + generated tokens: llama-completion refuses
#: prompts longer than n_ctx - 4 and shifts the context when it is full.
CTX_SLACK = 16
#: Repetitions of each llama-bench test in the cross-check.
BENCH_REPETITIONS = 3
_TOKENIZE_TIMEOUT_S = 120.0


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


def prepare(job: Job, device: Device) -> Prepared:
    """Make tools, model and prompt ready on ``device``; see the hookspec."""
    w = job.workload
    scheme = quantize.canonical(job.quant)
    crosscheck = _truthy(job.options.get("crosscheck"))
    # The model is checked first: a bad path is reported before a tool build.
    model, info, user_file, source = _resolve_model(job.model)
    target = quantize.target_type(scheme, info, user_file=user_file)
    dev_tools = tools.locate(job, device, want_bench=crosscheck)
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
    digest = file_digest(model)
    model_device = device.push(model, f"{tools.DEVICE_DIR}/models/{model.name}")

    count = _counter(job, device, dev_tools, model, model_device)
    prompt_file = _sized_prompt(w, digest, dev_tools, count)
    prompt_device = device.push(prompt_file, f"{tools.DEVICE_DIR}/prompts/{prompt_file.name}")

    argv = run_argv(dev_tools, model_device, prompt_device, w)
    bench_argv = None
    if crosscheck:
        assert dev_tools.bench is not None
        bench_argv = (
            dev_tools.bench, "-m", model_device, "-t", str(w.threads), "-p", str(w.prompt_tokens),
            "-n", str(w.gen_tokens), "-r", str(BENCH_REPETITIONS), "-o", "json",
        )  # fmt: skip
    state = LlamaState(
        tools=dev_tools,
        model_local=model,
        model_device=model_device,
        prompt_device=prompt_device,
        argv=argv,
        env=dev_tools.env,
        bench_argv=bench_argv,
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
    }
    if bench_argv:
        describe["crosscheck_argv"] = shlex.join(bench_argv)
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
    return tuple(argv)


def _resolve_model(name: str) -> tuple[Path, GGUFInfo, bool, str]:
    """(file, header info, given by the user?, description) of ``--model``."""
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
        presets = ", ".join(PRESETS)
        raise SetupError(
            f"{name}: no such file, and not a preset ({presets}); pass a preset or a GGUF path"
        )
    return path.resolve(), read_gguf_info(path), True, "user file"


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
    if not path.is_file():
        text = prompt.exact_prompt(w.prompt_tokens, count, w.prompt)
        write_atomic(path, text.encode("utf-8"))
    return path


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() not in ("", "0", "false", "no", "off")
