"""``prepare`` for ExecuTorch: find or make the .pte, check it, plan the run.

The model comes from :mod:`.models`, the run's argv from :mod:`.launch`.
Everything is cached by content (:mod:`.export`), so a second prepare of the
same configuration only hashes files (memoised) and writes nothing.
"""

from __future__ import annotations

import json
import sys
from importlib.util import find_spec
from pathlib import Path

from pocketbench.plugin import (
    Device,
    DeviceFile,
    Job,
    Prepared,
    SetupError,
    Workload,
    cached,
    check_executable_abi,
    file_digest,
    run_child,
    say,
    write_atomic,
    write_checked,
)

from . import export
from .launch import RunPlan, device_plan, local_runner_argv, runner_files
from .models import ModelFiles, model_files
from .realmodel import real_files
from .schemes import get_scheme
from .tokenizer import Tokenizer, exact_prompt

INSTALL_HINT = (
    'pip install torch==2.13.0 && pip install "pocketbench[executorch]" '
    '(torch first; from a checkout: pip install -e ".[executorch]")'
)


def versions() -> dict[str, str]:
    """executorch and torch versions; SetupError (how to install) when missing."""
    from importlib.metadata import PackageNotFoundError, version

    missing = [m for m in ("executorch", "torch") if find_spec(m) is None]
    if missing:
        raise SetupError(f"the ExecuTorch backend needs {' and '.join(missing)}: {INSTALL_HINT}")
    out = {}
    for dist in ("executorch", "torch"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def device_files(job: Job, device: Device) -> list[DeviceFile]:
    """What :func:`prepare` pushes to a phone, exported here first; see the hookspec.

    The prompt file (a few hundred bytes) is left out.
    """
    binary = _checked_runner(job, device)
    assert binary is not None  # _checked_runner refuses a phone without one
    return runner_files(binary, _model(job, versions()))


def _checked_runner(job: Job, device: Device) -> Path | None:
    """The user's llama_main (needed on a phone), checked for the device's processor."""
    llama_main = job.options.get("llama_main")
    if not device.is_local and not llama_main:
        # Said first: nothing else can make a phone run ExecuTorch.
        raise SetupError(
            f"on {device.name} the ExecuTorch backend runs your Android build of llama_main "
            "(the pip package has no device runner): pass --llama-main PATH"
        )
    if not llama_main:
        return None
    # Said before any export or push: a build for another processor cannot run.
    binary = Path(llama_main).expanduser()
    if not binary.is_file():
        raise SetupError(f"--llama-main {binary}: no such file")
    check_executable_abi(binary, device.facts().abi, device=device.name, option="--llama-main")
    return binary


def _model(job: Job, vers: dict[str, str]) -> ModelFiles:
    scheme = get_scheme(job.quant)
    if scheme is None:  # the core checks names first; this is a guard for direct callers
        raise SetupError(f"unknown ExecuTorch scheme {job.quant!r}")
    return real_files(job, scheme, vers) or model_files(job, scheme, vers)


def prepare(job: Job, device: Device) -> Prepared:
    llama_main = job.options.get("llama_main")
    _checked_runner(job, device)
    vers = versions()
    files = _model(job, vers)
    meta = inspect_pte(files.pte)
    tok = Tokenizer(files.tokenizer)
    check_vocab(meta, tok, files)
    w = job.workload
    check_context(meta, w, files.pte)
    prompt_file = make_prompt(tok, w, ascii_only=files.ascii_only)

    describe = {
        "executorch_version": vers["executorch"],
        "torch_version": vers["torch"],
        **files.describe,
        "model": str(files.pte),
        "model_sha256": file_digest(files.pte),
        "tokenizer": str(files.tokenizer),
        "tokenizer_sha256": file_digest(files.tokenizer),
        "tokenizer_kind": tok.kind,
        "vocab_size": str(meta.get("get_vocab_size", "")),
        "max_context_len": str(meta.get("get_max_context_len", "")),
        "eos_ids": json.dumps(meta.get("get_eos_ids", [])),
        "kv_cache": f"use_kv_cache={meta.get('use_kv_cache')} sdpa={meta.get('use_sdpa_with_kv_cache')}",
        "prompt_sha256": file_digest(prompt_file),
        "tokens": (
            "prompt_tokens include one BOS; gen_tokens new tokens (max_new_tokens): the first "
            "comes from the prompt's logits, the runner reports gen_tokens - 1 decode steps"
        ),
    }
    in_process_warmup = job.options.get("inprocess_warmup", "1") not in ("0", "false", "no")
    describe["inprocess_warmup"] = "1" if in_process_warmup else "0"
    if device.is_local and not llama_main:
        argv = local_runner_argv(
            files.pte, files.tokenizer, prompt_file, w, warmup=in_process_warmup
        )
        plan = RunPlan(argv=argv, python_runner=True)
        describe["runner"] = f"TextLLMRunner (executorch {vers['executorch']} Python binding)"
        describe["peak_rss_note"] = (
            "includes the Python interpreter and torch (see extra rss_before_load_mib)"
        )
    else:
        plan, more = device_plan(
            device, llama_main, files, prompt_file, w, warmup=in_process_warmup
        )
        describe.update(more)
    return Prepared(describe=describe, state=plan)


# -- checks ---------------------------------------------------------------------


def inspect_pte(pte: Path) -> dict:
    """The .pte's metadata (cached by content); SetupError when it does not load."""
    digest = file_digest(pte)
    memo = export.root() / "inspect" / f"{digest}.json"
    try:
        meta = json.loads(memo.read_text())
        if isinstance(meta, dict):
            return meta
        say(f"note: cached {memo} is damaged (not a JSON object); inspecting {pte.name} again")
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        say(f"note: cached {memo} is damaged ({exc}); inspecting {pte.name} again")
    proc = run_child(
        [sys.executable, "-m", "pocketbench.backends.executorch.inspect_pte", str(pte)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        why = lines[-1][len("error: ") :] if lines else f"inspection exited with {proc.returncode}"
        raise SetupError(f"{why}; re-export it or check the path")
    meta = json.loads(proc.stdout.strip().splitlines()[-1])
    memo.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(memo, json.dumps(meta).encode())
    return meta


def check_vocab(meta: dict, tok: Tokenizer, files: ModelFiles) -> None:
    vocab = meta.get("get_vocab_size")
    if vocab is not None and int(vocab) != tok.vocab_size:
        raise SetupError(
            f"tokenizer {files.tokenizer.name} has {tok.vocab_size} ids but {files.pte.name} "
            f"has a vocabulary of {vocab}: pass the tokenizer the model was exported with"
        )


def check_context(meta: dict, w: Workload, pte: Path) -> None:
    ctx = meta.get("get_max_context_len") or meta.get("get_max_seq_len")
    need = w.prompt_tokens + w.gen_tokens
    if ctx is not None and need > int(ctx):
        raise SetupError(
            f"{w.prompt_tokens} prompt + {w.gen_tokens} new tokens need a context of {need}, "
            f"but {pte.name} was exported for {ctx}: ask for fewer tokens or re-export "
            f"with -O max_seq_len={need}"
        )
    if w.prompt_tokens < 2:
        raise SetupError("--prompt-tokens must be at least 2 here (BOS plus one token of text)")
    if w.gen_tokens < 2:
        raise SetupError("--gen-tokens must be at least 2 here (the first comes from prefill)")


def make_prompt(tok: Tokenizer, w: Workload, *, ascii_only: bool) -> Path:
    """A file holding text of exactly ``w.prompt_tokens`` tokens (BOS included); cached."""
    key = export.content_key(
        tokenizer=file_digest(tok.path), text=w.prompt, n=w.prompt_tokens, ascii=ascii_only
    )
    path = export.root() / "prompts" / f"{key}.txt"
    if cached(path):
        return path
    text = exact_prompt(tok, w.prompt_tokens, w.prompt, bos=1, ascii_only=ascii_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checked(path, text.encode("utf-8"))
    return path
