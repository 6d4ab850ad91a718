"""How a run is started: the local runner or a llama_main on a device, with llama_main's flags."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from attrs import frozen

from pocketbench.plugin import (
    Device,
    DeviceFile,
    SetupError,
    Workload,
    explain_refusal,
    file_digest,
)

from . import export
from .models import ModelFiles

#: Flags the local runner understands (a subset of llama_main's).
RUNNER_FLAGS = frozenset(
    {
        "model_path",
        "tokenizer_path",
        "prompt",
        "prompt_file",
        "max_new_tokens",
        "seq_len",
        "cpu_threads",
        "num_bos",
        "num_eos",
        "temperature",
        "warmup",
    }
)


@frozen(kw_only=True)
class RunPlan:
    """What ``run`` needs, fixed by ``prepare`` (``Prepared.state``)."""

    argv: tuple[str, ...]
    cwd: str | None = None
    #: The local Python runner (True) or a llama_main binary (False).
    python_runner: bool = True


def runner_args(
    flags: frozenset[str] | set[str],
    *,
    pte: str,
    tokenizer: str,
    prompt_file: str | None,
    prompt_text: str,
    w: Workload,
    warmup: bool,
) -> list[str]:
    """llama_main's flags for the workload, limited to the ones this build knows.

    ``max_new_tokens`` is ``gen_tokens``: the first new token comes from the
    prompt's logits, so the runner reports ``gen_tokens - 1`` generated
    tokens (decode steps), the way llama.cpp reports ``gen_tokens - 1`` eval
    runs.  Runners older than ``--max_new_tokens`` take ``--seq_len``
    (prompt + output).
    """
    argv = ["--model_path", pte, "--tokenizer_path", tokenizer]
    if prompt_file is not None and "prompt_file" in flags:
        argv += ["--prompt_file", prompt_file]
    else:
        argv += ["--prompt", prompt_text]
    if "max_new_tokens" in flags:
        argv += ["--max_new_tokens", str(w.gen_tokens)]
    else:
        argv += ["--seq_len", str(w.prompt_tokens + w.gen_tokens)]
    if "cpu_threads" in flags:
        argv += ["--cpu_threads", str(w.threads)]
    if "temperature" in flags:
        argv += ["--temperature", "0"]
    if "num_bos" in flags:
        argv += ["--num_bos", "1"]
    if "ignore_eos" in flags:
        argv += ["--ignore_eos=true"]
    if warmup and "warmup" in flags:
        argv += ["--warmup=1"]
    return argv


def local_runner_argv(
    pte: Path, tokenizer: Path, prompt_file: Path, w: Workload, *, warmup: bool = True
) -> tuple[str, ...]:
    """argv of the local runner (``python -m pocketbench.backends.executorch.runner``)."""
    return (
        sys.executable,
        "-m",
        "pocketbench.backends.executorch.runner",
        *runner_args(
            RUNNER_FLAGS,
            pte=str(pte),
            tokenizer=str(tokenizer),
            prompt_file=str(prompt_file),
            prompt_text="",
            w=w,
            warmup=warmup,
        ),
    )


_GFLAG = re.compile(r"^\s*-{1,2}([A-Za-z_][A-Za-z0-9_]*) \(", re.MULTILINE)


def probe_flags(device: Device, binary: str) -> set[str]:
    """The flags a llama_main build accepts, from its gflags ``--help``."""
    res = device.run([binary, "--help"], timeout=60)
    refusal = explain_refusal(device, binary, res)
    if refusal is not None:
        raise SetupError(refusal)
    text = res.stdout + "\n" + res.stderr
    flags = set(_GFLAG.findall(text))
    if "model_path" not in flags:
        last = next((ln.strip() for ln in reversed(text.strip().splitlines()) if ln.strip()), "")
        raise SetupError(
            f"{binary} does not run as ExecuTorch's llama_main on {device.name} "
            f"(exit {res.exit_code}{': ' + last[:160] if last else ''}); "
            "pass an Android build of examples/models/llama's llama_main for this ABI"
        )
    return flags


def runner_files(binary: Path, files: ModelFiles) -> list[DeviceFile]:
    """llama_main, the .pte and the tokenizer as they are pushed to a phone (named by content)."""
    return [
        DeviceFile(local=binary, name=f"executorch/llama_main-{file_digest(binary)[:12]}"),
        DeviceFile(local=files.pte, name=f"executorch/{file_digest(files.pte)[:16]}.pte"),
        DeviceFile(
            local=files.tokenizer,
            name=f"executorch/{file_digest(files.tokenizer)[:12]}-{files.tokenizer.name}",
        ),
    ]


def device_plan(
    device: Device,
    llama_main: str,
    files: ModelFiles,
    prompt_file: Path,
    w: Workload,
    *,
    warmup: bool,
) -> tuple[RunPlan, dict[str, str]]:
    """Push llama_main, the model, tokenizer and prompt; argv with the Galaxy A25 study's flags.

    :return: the plan, and what to add to ``Prepared.describe``.
    """
    binary = Path(llama_main).expanduser()
    if not binary.is_file():
        raise SetupError(f"--llama-main {binary}: no such file")
    bin_digest = file_digest(binary)
    if device.is_local:
        dev_bin, dev_pte, dev_tok, dev_prompt = (
            str(binary),
            str(files.pte),
            str(files.tokenizer),
            str(prompt_file),
        )
    else:
        export.say(f"pushing llama_main, {files.pte.name} and the tokenizer to {device.name}")
        runner_file, pte_file, tok_file = runner_files(binary, files)
        dev_bin = device.push(runner_file.local, runner_file.name)
        device.run(["chmod", "755", dev_bin], timeout=30)
        dev_pte = device.push(pte_file.local, pte_file.name)
        dev_tok = device.push(tok_file.local, tok_file.name)
        dev_prompt = device.push(prompt_file, f"executorch/prompt-{prompt_file.name}")
    flags = probe_flags(device, dev_bin)
    text = prompt_file.read_text(encoding="utf-8")
    argv = (
        dev_bin,
        *runner_args(
            flags,
            pte=dev_pte,
            tokenizer=dev_tok,
            prompt_file=dev_prompt,
            prompt_text=text,
            w=w,
            warmup=warmup,
        ),
    )
    describe = {
        "runner": f"llama_main {binary} sha256 {bin_digest}",
        "llama_main_flags": " ".join(sorted(flags)),
    }
    if "max_new_tokens" not in flags:
        describe["llama_main_note"] = "no --max_new_tokens in this build: --seq_len used"
    # cwd None: the device's working directory, where the files were pushed.
    return RunPlan(argv=argv, cwd=None, python_runner=False), describe
