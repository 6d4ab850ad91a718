"""Where an ExecuTorch model comes from: a preset, a Meta checkpoint directory or a .pte.

- a preset (``tiny``, ``stories110m``, ``llama-3.2-1b``): a random checkpoint
  with the preset's shapes, a synthetic tokenizer, then ``export_llama``;
- a Meta-format checkpoint directory (``consolidated.00.pth``, ``params.json``,
  ``tokenizer.model``): exported here, prequantized ones passed through;
- a ``.pte`` with its tokenizer (``--tokenizer``): used as it is.

Every export gets an end-of-sequence id the model cannot emit, so each run
generates exactly the asked number of tokens.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from attrs import frozen

from pocketbench.plugin import (
    PRESETS,
    Job,
    ModelSpec,
    SetupError,
    cached,
    file_digest,
    get_preset,
    publish,
    temp_beside,
)

from . import export
from .schemes import LORA_RANK, PREQ_GROUP_SIZE, Scheme
from .tokenizer import Tokenizer, write_synthetic_tiktoken

#: An end-of-sequence id no model can emit: runs never stop early.
UNREACHABLE_EOS = 2147483647
#: Export peak memory per parameter, bytes (measured for Llama-3.2-1B, see facts.md).
_EXPORT_BYTES_PER_PARAM = {"fp32": 14.3, "bf16": 14.3, "8da4w": 7.6, "preq": 6.0}


def export_gib(n_params: float, scheme: Scheme) -> float:
    """The export's expected peak memory, GiB (it decides whether exports may overlap)."""
    kind = "preq" if scheme.checkpoint != "float" else scheme.name
    factor = _EXPORT_BYTES_PER_PARAM.get(kind, _EXPORT_BYTES_PER_PARAM["fp32"])
    return n_params * factor / 2**30 + 0.5


@frozen(kw_only=True)
class ModelFiles:
    """A model ready to run: the .pte, its tokenizer, and how they were made."""

    pte: Path
    tokenizer: Path
    describe: dict[str, str]
    #: Text the synthetic tokenizer can encode is ASCII only.
    ascii_only: bool = False


def model_files(job: Job, scheme: Scheme, vers: dict[str, str]) -> ModelFiles:
    spec = get_preset(job.model)
    if spec is not None:
        return preset_files(spec, scheme, job, vers)
    path = Path(job.model).expanduser()
    if path.is_file() and path.suffix == ".pte":
        return pte_files(path, job, scheme)
    if path.is_dir():
        return checkpoint_files(path, job, scheme, vers)
    raise SetupError(
        f"{job.model!r} is not a preset ({', '.join(PRESETS)}, smollm2-135m), a .pte file, "
        "a .gguf file or a Meta checkpoint directory (consolidated.00.pth + params.json + "
        "tokenizer.model)"
    )


def _metadata(bos: int) -> dict:
    return {"get_bos_id": bos, "get_eos_ids": [UNREACHABLE_EOS]}


def _params_for(params: dict, kind: str) -> dict:
    from .synth import preq_params

    if kind == "preq":
        return preq_params(params, group_size=PREQ_GROUP_SIZE)
    if kind == "preq-lora":
        return preq_params(params, group_size=PREQ_GROUP_SIZE, lora_rank=LORA_RANK)
    return dict(params)


def hadamard_ok(width: int) -> bool:
    """Whether ExecuTorch's fast Hadamard kernel takes this width (2^k or 28 * 2^k)."""

    def pow2(n: int) -> bool:
        return n > 0 and n & (n - 1) == 0

    return pow2(width) or (width % 28 == 0 and pow2(width // 28))


def check_spinquant(scheme: Scheme, params: dict, what: str) -> None:
    """SpinQuant rotates the feed-forward activations with a Hadamard kernel of fixed sizes."""
    from .synth import hidden_dim

    if scheme.name != "spinquant":
        return
    width = hidden_dim(params)
    if not hadamard_ok(width):
        raise SetupError(
            f"spinquant needs a feed-forward width of 2^k or 28*2^k (ExecuTorch's "
            f"fast_hadamard_transform); {what} has {width}"
        )


def preset_files(spec: ModelSpec, scheme: Scheme, job: Job, vers: dict[str, str]) -> ModelFiles:
    check_spinquant(scheme, spec.params_json(), f"preset {spec.name}")
    pdir = export.root() / "presets" / f"{spec.name}-{spec.fingerprint()}"
    pdir.mkdir(parents=True, exist_ok=True)
    tokenizer = pdir / "tokenizer.model"
    if not cached(tokenizer):  # checked against its recorded size and digest
        with temp_beside(tokenizer) as tmp:
            write_synthetic_tiktoken(tmp, spec.vocab_size)
            publish(tmp, tokenizer)
    bos = spec.vocab_size - 256
    kind = "base" if scheme.checkpoint == "float" else scheme.checkpoint
    params = _params_for(spec.params_json(), kind)
    ckdir = export.ensure_checkpoint(pdir / kind, params, kind, label=f"{spec.name} {kind}")
    seq = export.max_seq_len(job, spec.max_seq_len)
    pte = export.exported(
        name=spec.name,
        scheme=scheme.name,
        source=f"preset:{spec.fingerprint()}:{kind}:seed0",
        checkpoint=ckdir / "consolidated.00.pth",
        params=params,
        flags=scheme.export_flags,
        model_class=export.model_class(job),
        seq=seq,
        metadata=_metadata(bos),
        vers=vers,
        label=f"{spec.name} as {scheme.name}",
        estimate_gib=export_gib(spec.n_params(), scheme),
    )
    return ModelFiles(
        pte=pte,
        tokenizer=tokenizer,
        ascii_only=True,
        describe={
            "source": f"preset {spec.name} ({spec.n_params() / 1e6:.0f} M params, random weights)",
            "checkpoint": f"synthetic {kind} checkpoint, seed 0 ({ckdir})",
            "scheme": scheme.name,
            "export_flags": " ".join(scheme.export_flags),
            "dtype": scheme.dtype,
            "max_seq_len": str(seq),
            "eos": f"unreachable id {UNREACHABLE_EOS}: every run generates exactly the asked tokens",
        },
    )


def pte_files(path: Path, job: Job, scheme: Scheme) -> ModelFiles:
    tok = job.options.get("tokenizer")
    if not tok:
        raise SetupError(f"{path.name} needs its tokenizer: pass --tokenizer PATH")
    tokenizer = Path(tok).expanduser()
    if not tokenizer.is_file():
        raise SetupError(f"tokenizer {tokenizer}: no such file")
    return ModelFiles(
        pte=path.resolve(),
        tokenizer=tokenizer.resolve(),
        describe={
            "source": "user .pte",
            "scheme": f"{scheme.name} (as named by the user; the .pte is used as exported)",
            "export_flags": "unknown (given .pte)",
            "dtype": "unknown (given .pte)",
        },
    )


def _find_checkpoint(d: Path) -> Path:
    ckpt = d / "consolidated.00.pth"
    if ckpt.is_file():
        return ckpt
    found = sorted(d.glob("*.pth"))
    if len(found) == 1:
        return found[0]
    raise SetupError(f"{d}: expected consolidated.00.pth (or exactly one .pth file)")


def checkpoint_files(d: Path, job: Job, scheme: Scheme, vers: dict[str, str]) -> ModelFiles:
    params_path = d / "params.json"
    if not params_path.is_file():
        raise SetupError(f"{d}: no params.json; a Meta checkpoint directory has one")
    try:
        params = json.loads(params_path.read_text())
    except ValueError as exc:
        raise SetupError(f"{params_path}: not JSON ({exc})") from None
    ckpt = _find_checkpoint(d)
    tok_opt = job.options.get("tokenizer")
    candidates = (
        [Path(tok_opt).expanduser()]
        if tok_opt
        else [d / n for n in ("tokenizer.model", "tokenizer.json", "tokenizer.bin")]
    )
    tokenizer = next((c for c in candidates if c.is_file()), None)
    if tokenizer is None:
        raise SetupError(f"{d}: no tokenizer.model; pass --tokenizer PATH")
    prequantized = "quantization_args" in params
    lora = "lora_args" in params
    if scheme.checkpoint == "float" and prequantized:
        raise SetupError(
            f"{d} is a prequantized checkpoint: use --quant {'qat-lora' if lora else 'spinquant'}"
        )
    if scheme.checkpoint != "float" and not prequantized:
        raise SetupError(
            f"--quant {scheme.name} needs a prequantized INT4_EO8 checkpoint (params.json with "
            f"quantization_args, as in Meta's releases); {d} is a float checkpoint: "
            "use baseline, bf16 or 8da4w"
        )
    if scheme.checkpoint == "preq-lora" and not lora:
        raise SetupError(
            f"{d} has no lora_args: it is not a QAT+LoRA checkpoint; use --quant spinquant"
        )
    if scheme.checkpoint == "preq" and lora:
        raise SetupError(f"{d} is a QAT+LoRA checkpoint: use --quant qat-lora")
    check_spinquant(scheme, params, str(d))
    flags = scheme.export_flags
    if lora and int(params["lora_args"].get("rank", LORA_RANK)) != LORA_RANK:
        rank = str(params["lora_args"]["rank"])
        flags = tuple(
            rank if (i > 0 and flags[i - 1] == "-lora") else f for i, f in enumerate(flags)
        )
    tok = Tokenizer(tokenizer)
    seq = export.max_seq_len(job, 1024)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", d.resolve().name)[:60]
    pte = export.exported(
        name=name,
        scheme=scheme.name,
        source=file_digest(ckpt),
        checkpoint=ckpt,
        params=params,
        flags=flags,
        model_class=export.model_class(job),
        seq=seq,
        metadata=_metadata(tok.bos),
        vers=vers,
        label=f"{d.name} as {scheme.name}",
    )
    return ModelFiles(
        pte=pte,
        tokenizer=tokenizer.resolve(),
        describe={
            "source": f"checkpoint {d.resolve()}",
            "checkpoint": f"{ckpt.resolve()} sha256 {file_digest(ckpt)}",
            "scheme": scheme.name,
            "export_flags": " ".join(flags),
            "dtype": scheme.dtype,
            "max_seq_len": str(seq),
            "eos": f"replaced by unreachable id {UNREACHABLE_EOS} so every run generates exactly the asked tokens",
        },
    )
