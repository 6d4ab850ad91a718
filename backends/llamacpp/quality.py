"""Quality with llama.cpp's own ``llama-perplexity`` (KL-divergence mode).

The reference: ``llama-perplexity -m REF.gguf -f TEXT -c CTX --chunks N
--kl-divergence-base OUT`` tokenizes the text with the model's tokenizer,
evaluates each window and saves the log-probabilities of the scored positions.
A configuration: ``llama-perplexity -m MODEL.gguf --kl-divergence-base REF
--kl-divergence -c CTX`` evaluates the reference's tokens and prints the
statistics parsed here.  Both run on this host with the same model file the
device got (the protocol is in docs/method.md).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pocketbench.backends.llamacpp import tools
from pocketbench.backends.llamacpp.gguf_info import read_gguf_info
from pocketbench.plugin import (
    Device,
    Job,
    Prepared,
    QualityRequest,
    QualityResult,
    SetupError,
    UsageError,
    logprobs,
    run_child,
)

TOOL = "llama-perplexity"
_NUM = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|nan|-?inf)"
_PM = _NUM + r"\s*±\s*" + _NUM
_PATTERNS = {
    "ppl": re.compile(r"Mean PPL\(Q\)\s*:\s*" + _PM),
    "ppl_base": re.compile(r"Mean PPL\(base\)\s*:\s*" + _PM),
    "ln_ratio": re.compile(r"Mean ln\(PPL\(Q\)/PPL\(base\)\)\s*:\s*" + _PM),
    "kld": re.compile(r"Mean\s+KLD:\s*" + _PM),
    "p99": re.compile(r"99\.0%\s+KLD:\s*" + _NUM),
    "top": re.compile(r"Same top p:\s*" + _PM + r"\s*%"),
}
_FINAL = re.compile(r"Final estimate: PPL = " + _NUM + r" \+/- " + _NUM)
_TOO_SHORT = re.compile(r"you need at least (\d+) tokens.*?tokenizes to only (\d+) tokens", re.S)
#: A quality evaluation of a 1B model over a long text can take a while on 2 cores.
_TIMEOUT_S = 3 * 3600


def perplexity_tool(job: Job, device: Device) -> Path:
    """The host's llama-perplexity: the user's own build when one is given, else ours."""
    user = tools.user_bin_dir(job, "llamacpp_host_bin", "POCKETBENCH_LLAMACPP_HOST_BIN")
    if user is None and device.is_local:
        user = tools.user_bin_dir(job)
    if user is not None:
        # Numerics must come from the build that is timed: never mix in our own.
        if not (user / TOOL).is_file():
            raise SetupError(
                f"{user} has no {TOOL}, which --quality needs: build it in your llama.cpp tree "
                f"(cmake --build build --target {TOOL}) or run without --quality"
            )
        return user / TOOL
    return tools.host_tool(job, device, TOOL)


def measure(job: Job, device: Device, prepared: Prepared, request: QualityRequest) -> QualityResult:
    model = prepared.state.model_local
    tool = perplexity_tool(job, device)
    info = read_gguf_info(model)
    p = request.protocol
    common = ["-m", str(model), "-c", str(p.ctx), "-b", str(p.ctx), "-t", str(request.threads)]
    if request.make_reference:
        argv = [str(tool), *common, "-f", str(request.text), "--chunks", str(p.chunks)]
        argv += ["--kl-divergence-base", str(request.reference)]
        out = _run(argv)
        short = _TOO_SHORT.search(out)
        if short:
            raise p.too_short(str(request.text), int(short[2]))
        header, tokens = logprobs.read_header(request.reference)
        if header.n_chunk < p.chunks:
            raise p.too_short(str(request.text), len(tokens))
        final = _FINAL.search(out)
        if final is None:
            raise SetupError(f"{TOOL} printed no perplexity for {model.name}: {_last(out)}")
        ppl, err = float(final[1]), float(final[2])
        import math

        return QualityResult(
            scored=p.scored,
            eval_tokens=header.n_chunk * header.n_ctx,
            n_vocab=header.n_vocab,
            nll_mean=math.log(ppl),
            nll_se=err / ppl,
            chunk_bos=_chunk_bos(model),
            method=f"{TOOL} --kl-divergence-base (llama.cpp {tools.tool_commit(tool)})",
        )
    header, tokens = logprobs.read_header(request.reference)
    if info.n_vocab is not None and info.n_vocab != header.n_vocab:
        raise UsageError(
            f"{model.name} has a vocabulary of {info.n_vocab} tokens but the reference has "
            f"{header.n_vocab}: quality compares configurations of the same model"
        )
    argv = [str(tool), *common, "--kl-divergence-base", str(request.reference), "--kl-divergence"]
    out = _run(argv)
    found = {k: rx.search(out) for k, rx in _PATTERNS.items()}
    missing = [k for k, m in found.items() if m is None]
    if missing:
        raise SetupError(
            f"{TOOL} printed no {', '.join(missing)} statistics for {model.name}: {_last(out)}"
        )
    import math

    ppl, ppl_err = float(found["ppl"][1]), float(found["ppl"][2])  # type: ignore[index]
    base = float(found["ppl_base"][1])  # type: ignore[index]
    return QualityResult(
        scored=header.n_chunk * header.scored_per_chunk,
        eval_tokens=len(tokens),
        n_vocab=header.n_vocab,
        nll_mean=math.log(ppl),
        nll_se=ppl_err / ppl,
        kl_mean=float(found["kld"][1]),  # type: ignore[index]
        kl_se=float(found["kld"][2]),  # type: ignore[index]
        kl_p99=float(found["p99"][1]),  # type: ignore[index]
        top1=float(found["top"][1]) / 100,  # type: ignore[index]
        top1_se=float(found["top"][2]) / 100,  # type: ignore[index]
        ln_ratio=float(found["ln_ratio"][1]),  # type: ignore[index]
        ln_ratio_se=float(found["ln_ratio"][2]),  # type: ignore[index]
        nll_ref=math.log(base),
        method=f"{TOOL} --kl-divergence (llama.cpp {tools.tool_commit(tool)})",
    )


def _chunk_bos(model: Path) -> int | None:
    """The BOS id llama-perplexity puts at each window's start, or None (add_bos false)."""
    import gguf

    reader = gguf.GGUFReader(model)
    add = reader.fields.get("tokenizer.ggml.add_bos_token")
    bos = reader.fields.get("tokenizer.ggml.bos_token_id")
    if add is None or bos is None or not bool(add.contents()):
        return None
    return int(bos.contents())


def _run(argv: list[str]) -> str:
    try:
        proc = run_child(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise SetupError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{TOOL} took more than {_TIMEOUT_S} s; use a shorter text") from None
    out = proc.stdout + "\n" + proc.stderr
    if proc.returncode != 0 and not _TOO_SHORT.search(out):
        raise SetupError(f"{TOOL} exited with code {proc.returncode}: {_last(out)}")
    return out


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower() or "failed" in ln.lower():
            return ln[:200]
    return lines[-1][:200] if lines else "no output"
