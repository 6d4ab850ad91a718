"""Quantization schemes and producing them with the real ``llama-quantize``.

A scheme name (``q4_0``) maps to a llama-quantize type (``Q4_0``).  Quantized
files are cached by the source file's hash, the type and the quantizer's
build commit, so a second job with the same configuration does no work.

Policy for a model that is already quantized: it is used as it is when it
already has the asked type (or the scheme is ``baseline``, "the model as
given"); producing another type from it is refused, because requantizing a
quantized model measures a model nobody ships.  Only F32/F16/BF16 models are
quantized.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pocketbench.backends.llamacpp.gguf_info import GGUFInfo
from pocketbench.plugin import (
    QuantScheme,
    SetupError,
    cache_dir,
    file_lock,
    status,
    temp_beside,
)

#: scheme name -> (llama-quantize type, description, aliases).
_TABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("baseline", "F16", "16-bit floats, unquantized (the Galaxy A25 study's baseline); a GGUF passed by path is used as given", ("f16", "fp16")),
    ("f32", "F32", "32-bit floats (upcast; slowest, the reference)", ("fp32",)),
    ("bf16", "BF16", "bfloat16 weights", ()),
    ("q8_0", "Q8_0", "8-bit round-to-nearest, blocks of 32 (the Galaxy A25 study)", ()),
    ("q6_k", "Q6_K", "6-bit k-quant", ()),
    ("q5_k_m", "Q5_K_M", "5-bit k-quant, medium (some tensors 6-bit)", ("q5_k",)),
    ("q5_k_s", "Q5_K_S", "5-bit k-quant, small", ()),
    ("q5_0", "Q5_0", "5-bit round-to-nearest, blocks of 32", ()),
    ("q4_k_m", "Q4_K_M", "4-bit k-quant, medium (some tensors 6-bit): the common default", ("q4_k",)),
    ("q4_k_s", "Q4_K_S", "4-bit k-quant, small", ()),
    ("q4_0", "Q4_0", "4-bit round-to-nearest, blocks of 32 (the Galaxy A25 study; repacked for ARM/AVX at load)", ()),
    ("q4_1", "Q4_1", "4-bit with per-block minimum, blocks of 32", ()),
    ("iq4_nl", "IQ4_NL", "4-bit non-linear, blocks of 32 (no importance matrix needed)", ()),
    ("iq4_xs", "IQ4_XS", "4.25-bit non-linear i-quant (no importance matrix needed)", ()),
    ("q3_k_m", "Q3_K_M", "3-bit k-quant, medium", ("q3_k",)),
    ("q2_k", "Q2_K", "2-bit k-quant (large quality loss)", ()),
)  # fmt: skip

#: llama-quantize type of each scheme.
QUANT_TYPES: dict[str, str] = {name: qtype for name, qtype, _, _ in _TABLE}


def schemes() -> tuple[QuantScheme, ...]:
    """The schemes this backend declares (``bench plugins`` lists them)."""
    return tuple(
        QuantScheme(
            name=name,
            description=desc,
            produced_by=(
                "synthetic presets are written as F16 GGUF; a GGUF given by path is used as is"
                if name == "baseline"
                else f"llama-quantize IN.gguf OUT.gguf {qtype}"
            ),
            aliases=aliases,
            label="Baseline" if name == "baseline" else qtype,
        )
        for name, qtype, desc, aliases in _TABLE
    )


def canonical(name: str) -> str:
    """The scheme's canonical name (aliases resolved).

    :raises SetupError: for a name no scheme has, listing the valid ones.
    """
    key = name.lower()
    for scheme, _, _, aliases in _TABLE:
        if key == scheme or key in aliases:
            return scheme
    valid = ", ".join(QUANT_TYPES)
    raise SetupError(f"unknown llama.cpp quantization {name!r}. Choose one of: {valid}.")


def target_type(scheme: str, info: GGUFInfo, *, user_file: bool) -> str | None:
    """The llama-quantize type to make from ``info``'s file, or None to use it as is.

    :raises SetupError: when asked to requantize an already quantized model.
    """
    scheme = canonical(scheme)
    want = QUANT_TYPES[scheme]
    if scheme == "baseline" and user_file:
        return None  # "the model as given", whatever its type (recorded by prepare)
    if info.quant_type == want:
        return None
    if info.is_float:
        return want
    raise SetupError(
        f"{info.path} is already quantized ({info.quant_type}); run it as is with "
        f"--quant baseline (or --quant {info.quant_type.lower()}), or pass an F16/BF16/F32 "
        f"GGUF to make {want}"
    )


def quantized_path(src_digest: str, qtype: str, tool_commit: str) -> Path:
    """Where the ``qtype`` version of the model with hash ``src_digest`` is cached."""
    return cache_dir("llamacpp", "models") / f"{src_digest[:16]}-{qtype}-{tool_commit}.gguf"


def quantize(
    src: Path, src_digest: str, qtype: str, *, tool: Path, tool_commit: str, threads: int
) -> Path:
    """``llama-quantize src OUT qtype threads``, cached; returns OUT.

    :raises SetupError: when llama-quantize fails (an unsupported type, a
        broken model); the message names the log with its full output.
    """
    out = quantized_path(src_digest, qtype, tool_commit)
    if out.is_file():
        return out
    with file_lock(out.with_suffix(".lock")):
        if out.is_file():
            return out
        log = out.with_suffix(".log")
        with (
            temp_beside(out) as tmp,
            status(f"quantizing {src.name} to {qtype} with llama-quantize (one time)..."),
        ):
            cmd = [str(tool), str(src), str(tmp), qtype, str(threads)]
            with open(log, "w", encoding="utf-8") as logf:
                logf.write("$ " + " ".join(cmd) + "\n")
                logf.flush()
                try:
                    proc = subprocess.run(
                        cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                    )
                except OSError as exc:
                    raise SetupError(f"cannot run {tool}: {exc.strerror or exc}") from None
            if proc.returncode != 0 or tmp.stat().st_size == 0:
                reason = _failure_line(log.read_text(errors="replace"))
                raise SetupError(
                    f"llama-quantize could not make {qtype} from {src.name}: {reason}; see {log}"
                )
            tmp.chmod(0o644)
            os.replace(tmp, out)
    return out


def _failure_line(text: str) -> str:
    """The most telling line of a failed llama-quantize run."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        low = ln.lower()
        if "error" in low or "failed" in low or "invalid" in low or "unknown" in low:
            return ln[:200]
    return lines[-1][:200] if lines else "no output"
