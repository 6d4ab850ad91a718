"""Bytes one llama.cpp decode step reads, from the GGUF's tensor table and metadata.

Every tensor is read once per generated token except the token-embedding
table, which is a row lookup: it is left out when the file has its own
``output.weight``, and counted once (as the output projection) when the
embeddings are tied.  The KV cache is llama.cpp's default type, F16 for keys
and values (pocketbench never changes it), over ``block_count`` layers of
``head_count_kv`` heads of ``key_length`` + ``value_length`` elements.
"""

from __future__ import annotations

from typing import Any

from pocketbench.backends.llamacpp.gguf_info import GGUFInfo
from pocketbench.plugin import DecodeBytes, SetupError

EMBEDDING = "token_embd.weight"
OUTPUT = "output.weight"
#: llama.cpp's default KV cache type (``-ctk``/``-ctv`` f16): bytes per element.
KV_TYPE, KV_ELEMENT_BYTES = "F16", 2


def decode_bytes(info: GGUFInfo) -> DecodeBytes:
    """Weights and KV bytes of one decode step; SetupError (one line) when unreadable."""
    sizes = info.tensor_bytes
    if not sizes:
        raise SetupError(f"{info.path}: the GGUF lists no tensors; bytes per token are unknown")
    tied = OUTPUT not in sizes
    embedding = 0 if tied else sizes.get(EMBEDDING, 0)
    weights = sum(sizes.values()) - embedding
    arch = info.architecture
    layers = _count(info, f"{arch}.block_count")
    heads = _count(info, f"{arch}.attention.head_count")
    kv_heads = _count(info, f"{arch}.attention.head_count_kv", default=heads)
    width = _count(info, f"{arch}.embedding_length")
    k_len = _count(info, f"{arch}.attention.key_length", default=width // heads)
    v_len = _count(info, f"{arch}.attention.value_length", default=width // heads)
    kv = layers * kv_heads * (k_len + v_len) * KV_ELEMENT_BYTES
    types = ", ".join(f"{n} {t}" for t, n in sorted(info.tensor_types.items()))
    embedding_text = (
        "tied embeddings (read as the output projection)"
        if tied
        else ("embedding table left out (a lookup)")
    )
    return DecodeBytes(
        weights_bytes=weights,
        kv_bytes_per_position=kv,
        source=f"GGUF tensor table ({types}); {embedding_text}; KV cache {KV_TYPE}",
        embedding_bytes=embedding,
    )


def _count(info: GGUFInfo, key: str, default: int | None = None) -> int:
    value: Any = info.metadata.get(key, default)
    # Per-layer arrays (some hybrid models) and missing keys: no honest single figure.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SetupError(
            f"{info.path}: {key} is {'missing' if value is None else 'not one number'};"
            " bytes per token (MBU) cannot be computed for this model"
        )
    return value
