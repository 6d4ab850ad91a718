"""Real weights for ExecuTorch: a GGUF (a real preset or the user's) converted, then exported.

The conversion (:mod:`.gguf_convert`) runs once per GGUF file (cached by its
sha256): checkpoint, params.json and tokenizer.json.  Each scheme is then
exported by ``export_llama`` from that checkpoint like any Meta checkpoint.
SpinQuant and QAT+LoRA are Meta's published prequantized checkpoints of
Llama 3.2; no such checkpoint exists for another model, so those schemes are
refused with one line.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from pocketbench.plugin import (
    Job,
    RealModel,
    SetupError,
    file_digest,
    get_real_model,
    publish_dir,
    real_model_file,
)

from . import export
from .models import UNREACHABLE_EOS, ModelFiles, export_gib
from .schemes import Scheme

#: Bumped when the conversion's output changes.
CONVERT_VERSION = 1
#: Longest sequence a converted model is exported for (prompt + new tokens, quality windows).
DEFAULT_SEQ = 1024


#: What a converted model's folder must hold (its record checks every file).
_CONVERTED = ("consolidated.00.pth", "params.json", "special.json", "tokenizer.json")


def converted_problem(d: Path) -> str | None:
    """Why a converted model's folder is not whole, or None (cheap: no tensor is read)."""
    for name in ("params.json", "special.json", "tokenizer.json"):
        try:
            json.loads((d / name).read_text())
        except (OSError, ValueError):
            return f"has no readable {name}"
    # torch.save writes a zip archive; its central directory is at the end, so a
    # file cut short has none.
    if not zipfile.is_zipfile(d / "consolidated.00.pth"):
        return "has no whole consolidated.00.pth"
    return None


def _cached_conversion(final: Path) -> bool:
    """True when ``final`` holds a usable conversion (its record, then :func:`converted_problem`)."""
    return export.cached_whole(final, _CONVERTED, converted_problem, "converting it again")


def converted(gguf: Path, label: str) -> Path:
    """The directory holding the GGUF's checkpoint, params.json and tokenizer.json."""
    digest = file_digest(gguf)
    final = export.root() / "converted" / f"{digest[:20]}-v{CONVERT_VERSION}"
    if _cached_conversion(final):
        return final
    with export.making(final, lambda: _cached_conversion(final), f"converting {label}") as make:
        if not make:
            return final
        with export._building(final) as tmp:
            export.say(f"converting {label} for ExecuTorch (one time; cached in {final})")
            export.run_logged(
                [
                    sys.executable,
                    "-m",
                    "pocketbench.backends.executorch.gguf_convert",
                    "--gguf",
                    str(gguf),
                    "--out",
                    ".",
                ],
                cwd=tmp,
                log=tmp / "convert.log",
                what=f"converting {label}",
            )
            publish_dir(tmp, final)
    return final


def real_files(job: Job, scheme: Scheme, vers: dict[str, str]) -> ModelFiles | None:
    """A real preset's or a user GGUF's files; None for every other model (see :mod:`.models`)."""
    real = get_real_model(job.model)
    if real is not None:
        return gguf_files(real_model_file(real), job, scheme, vers, real=real)
    path = Path(job.model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return gguf_files(path.resolve(), job, scheme, vers, real=None)
    return None


def gguf_files(
    gguf: Path, job: Job, scheme: Scheme, vers: dict[str, str], *, real: RealModel | None
) -> ModelFiles:
    name = real.name if real is not None else gguf.stem
    if scheme.checkpoint != "float":
        raise SetupError(
            f"--quant {scheme.name} needs Meta's published prequantized checkpoint, which exists "
            f"for Llama 3.2 only; {name} has none: use baseline, bf16 or 8da4w"
        )
    d = converted(gguf, name)
    params = json.loads((d / "params.json").read_text())
    special = json.loads((d / "special.json").read_text())
    bos = special.get("bos")
    seq = export.max_seq_len(job, DEFAULT_SEQ)
    pte = export.exported(
        name=name,
        scheme=scheme.name,
        source=f"gguf:{file_digest(gguf)}:convert{CONVERT_VERSION}",
        checkpoint=d / "consolidated.00.pth",
        params=params,
        flags=scheme.export_flags,
        model_class=export.model_class(job),
        seq=seq,
        metadata={"get_bos_id": bos if bos is not None else 0, "get_eos_ids": [UNREACHABLE_EOS]},
        vers=vers,
        label=f"{name} as {scheme.name}",
        # The converted checkpoint holds float32 tensors: 4 bytes a parameter.
        estimate_gib=export_gib((d / "consolidated.00.pth").stat().st_size / 4, scheme),
    )
    source = (
        f"real preset {real.name}: {real.source.member} from {real.source.package} "
        f"{real.source.version}, converted (weights rounded to float16, as llama.cpp's F16 "
        "baseline)"
        if real is not None
        else f"GGUF {gguf} converted (weights rounded to float16)"
    )
    return ModelFiles(
        pte=pte,
        tokenizer=d / "tokenizer.json",
        describe={
            "source": source,
            "checkpoint": f"{d / 'consolidated.00.pth'} (from GGUF sha256 {file_digest(gguf)})",
            "scheme": scheme.name,
            "export_flags": " ".join(scheme.export_flags),
            "dtype": scheme.dtype,
            "max_seq_len": str(seq),
            "eos": f"unreachable id {UNREACHABLE_EOS}: every run generates exactly the asked tokens",
        },
    )
