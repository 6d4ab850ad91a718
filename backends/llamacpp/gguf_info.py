"""Read a GGUF file's header cheaply and refuse files llama.cpp would fail on.

Only the header, metadata and tensor table are read (a few MB at most, even
for multi-GB models); tensor data is checked by size, not read.  A missing,
truncated or non-GGUF file, or an architecture llama.cpp cannot generate
text with, becomes a :class:`SetupError` with one line saying so, before any
tool runs.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path
from typing import IO, Any

from attrs import field, frozen

from pocketbench.plugin import SetupError

GGUF_MAGIC = b"GGUF"
#: Architectures that exist in GGUF but cannot generate text with llama-completion
#: (encoders, embedding models, multimodal projectors, audio decoders).
NON_GENERATIVE = frozenset(
    {
        "clip", "bert", "nomic-bert", "nomic-bert-moe", "neo-bert", "jina-bert-v2",
        "jina-bert-v3", "modern-bert", "t5encoder", "wavtokenizer-dec",
    }
)  # fmt: skip

# Scalar value types of GGUF metadata: type id -> struct format.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
#: Sanity limits: anything larger is a corrupt header, not a model.
_MAX_COUNT = 1 << 24


@frozen(kw_only=True)
class GGUFInfo:
    """What a GGUF header says about a model."""

    path: Path
    version: int
    architecture: str
    name: str
    #: ``general.file_type`` as llama.cpp names it ("MOSTLY_Q4_0"), or inferred.
    file_type: str
    #: The llama-quantize type name of the file ("Q4_0", "F16", "Q4_K_M").
    quant_type: str
    context_length: int | None
    n_params: int
    n_tensors: int
    #: How many tensors use each GGML type ({"Q4_0": 112, "F32": 33}).
    tensor_types: dict[str, int]
    data_bytes: int
    #: Vocabulary size (``<arch>.vocab_size`` or the tokenizer's token count), when known.
    n_vocab: int | None = None
    #: Bytes of each tensor's data, by tensor name (what a decode step reads).
    tensor_bytes: dict[str, int] = field(factory=dict)
    #: Metadata (``llama.block_count`` ...); an array appears as ``("array", length)``.
    metadata: dict[str, Any] = field(factory=dict)

    @property
    def is_float(self) -> bool:
        """True for F32/F16/BF16 files: the ones worth quantizing."""
        return self.quant_type in ("F32", "F16", "BF16")


class _Reader:
    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f = f
        self.size = size

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise EOFError
        return b

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > self.size:
            raise ValueError("string length past end of file")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, count = self.unpack("<I"), self.unpack("<Q")
            if count > _MAX_COUNT:
                raise ValueError("array too long")
            if itype in _SCALARS:
                fmt = _SCALARS[itype]
                raw = self.read(struct.calcsize(fmt) * count)
                return count if not keep else list(struct.iter_unpack(fmt, raw))
            # Arrays of strings (a 128k-token vocabulary) are walked, not kept.
            for _ in range(count):
                self.value(itype, keep=False)
            return count
        raise ValueError(f"unknown metadata value type {vtype}")


def read_gguf_info(path: Path) -> GGUFInfo:
    """Parse ``path``'s header; :class:`SetupError` with one clear line if it is unusable."""
    import gguf

    path = Path(path)
    if not path.exists():
        raise SetupError(f"{path}: no such file; pass a preset name or the path of a GGUF model")
    if not path.is_file():
        raise SetupError(f"{path}: not a file; pass a GGUF model file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise SetupError(
                f"{path}: not a GGUF file (no GGUF magic); the llama.cpp backend needs a .gguf model"
            )
        r = _Reader(f, size)
        try:
            version = r.unpack("<I")
            if version < 2:
                raise SetupError(f"{path}: GGUF version {version} is too old; re-convert the model")
            n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
            if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
                raise ValueError("implausible tensor or key count")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.unpack("<I")
                value = r.value(vtype, keep=False)
                # An array is kept as ("array", length): never mistaken for a scalar.
                meta[key] = ("array", value) if vtype == _ARRAY else value
            tensors: list[tuple[str, list[int], int, int]] = []
            for _ in range(n_tensors):
                name = r.string()
                n_dims = r.unpack("<I")
                if n_dims > 8:
                    raise ValueError(f"tensor {name} has {n_dims} dimensions")
                dims = [r.unpack("<Q") for _ in range(n_dims)]
                tensors.append((name, dims, r.unpack("<I"), r.unpack("<Q")))
            header_end = f.tell()
        except EOFError:
            raise SetupError(
                f"{path}: truncated GGUF (the header ends early); download or convert it again"
            ) from None
        except (ValueError, struct.error, UnicodeDecodeError) as exc:
            raise SetupError(f"{path}: corrupt GGUF header ({exc})") from None

    align = int(meta.get("general.alignment", 32)) or 32
    data_start = -(-header_end // align) * align
    end, n_params, types = 0, 0, Counter[str]()
    sizes: dict[str, int] = {}
    for name, dims, ttype, offset in tensors:
        try:
            qtype = gguf.GGMLQuantizationType(ttype)
        except ValueError:
            raise SetupError(
                f"{path}: tensor {name} has an unknown type {ttype}; this llama.cpp is too old for it"
            ) from None
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        count = 1
        for d in dims:
            count *= d
        if dims and dims[0] % block:
            raise SetupError(
                f"{path}: tensor {name} row size {dims[0]} is not a multiple of {block}"
            )
        sizes[name] = count // block * type_size
        end = max(end, offset + sizes[name])
        n_params += count
        types[qtype.name] += 1
    if data_start + end > size:
        raise SetupError(
            f"{path}: truncated GGUF ({size} bytes, tensor data needs {data_start + end}); "
            "download or convert it again"
        )

    arch = str(meta.get("general.architecture", ""))
    if not arch:
        raise SetupError(f"{path}: GGUF without general.architecture; not a llama.cpp model")
    known = set(gguf.MODEL_ARCH_NAMES.values())
    if arch in NON_GENERATIVE or arch not in known:
        why = (
            "cannot generate text"
            if arch in NON_GENERATIVE
            else "is not supported by this llama.cpp"
        )
        raise SetupError(
            f"{path}: architecture {arch!r} {why}; pass a text-generation GGUF (llama, qwen2, ...)"
        )

    file_type, quant = _file_type(meta.get("general.file_type"), types)
    ctx = meta.get(f"{arch}.context_length")
    return GGUFInfo(
        path=path,
        version=version,
        architecture=arch,
        name=str(meta.get("general.name", "")),
        file_type=file_type,
        quant_type=quant,
        context_length=int(ctx) if isinstance(ctx, int) else None,
        n_params=n_params,
        n_tensors=n_tensors,
        tensor_types=dict(types),
        data_bytes=end,
        n_vocab=_vocab(meta, arch),
        tensor_bytes=sizes,
        metadata=meta,
    )


def _vocab(meta: dict[str, Any], arch: str) -> int | None:
    value = meta.get(f"{arch}.vocab_size", meta.get("tokenizer.ggml.tokens"))
    return int(value) if isinstance(value, int) else None


def _file_type(raw: Any, types: Counter[str]) -> tuple[str, str]:
    """(llama.cpp's file type name, llama-quantize type name) of a model."""
    import gguf

    if isinstance(raw, int):
        try:
            name = gguf.LlamaFileType(raw).name
        except ValueError:
            name = f"FILE_TYPE_{raw}"
        quant = name.removeprefix("MOSTLY_").removeprefix("ALL_")
        return name, quant
    # No general.file_type (some converters omit it): the most common type
    # among the tensors is what llama-quantize would call the file.
    big = Counter({t: n for t, n in types.items() if t != "F32"}) or types
    quant = big.most_common(1)[0][0] if big else "F32"
    return f"inferred {quant}", quant
