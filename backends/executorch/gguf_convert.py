"""A Llama-architecture GGUF as ExecuTorch input: checkpoint, params.json, tokenizer.json.

``python -m pocketbench.backends.executorch.gguf_convert --gguf MODEL.gguf --out DIR``
(run as a child process: it imports torch and holds the whole model).

- Weights: every tensor is dequantized with the ``gguf`` package and rounded
  to float16, exactly what ``llama-quantize ... F16`` does to the same file, so
  the ExecuTorch baseline and the llama.cpp F16 baseline hold the same
  numbers.  They are stored as float32 in Meta's ``consolidated.00.pth``
  layout.  llama.cpp's GGUF keeps Q and K in Meta's interleaved-RoPE order,
  which is what ExecuTorch's Llama expects, so no permutation is needed.  A
  tied output (no ``output.weight``) is written as a copy of the embedding.
- ``params.json`` from the GGUF's ``llama.*`` metadata.
- ``tokenizer.json``: a Hugging Face byte-level BPE tokenizer from the GGUF's
  vocabulary, merges and token types (control tokens become special added
  tokens), which the ExecuTorch runners read.  The pre-tokenizer follows
  llama.cpp's ``tokenizer.ggml.pre`` (digits split one by one for ``smollm``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_LAYER = {
    "attn_norm": "attention_norm",
    "attn_q": "attention.wq",
    "attn_k": "attention.wk",
    "attn_v": "attention.wv",
    "attn_output": "attention.wo",
    "ffn_norm": "ffn_norm",
    "ffn_gate": "feed_forward.w1",
    "ffn_down": "feed_forward.w2",
    "ffn_up": "feed_forward.w3",
}
_GLOBAL = {"token_embd": "tok_embeddings", "output_norm": "norm", "output": "output"}
#: GPT-2's pre-tokenizer regex (llama.cpp's LLAMA_VOCAB_PRE_TYPE_GPT2 and friends).
GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
#: Pre-tokenizers whose digits are split one at a time before the GPT-2 regex.
DIGIT_SPLIT = {"smollm", "starcoder", "refact", "codeshell"}


def meta_name(gguf_name: str) -> str | None:
    """Meta checkpoint key of a GGUF tensor name, or None when it has none (rope_freqs)."""
    base = gguf_name.removesuffix(".weight")
    if base in _GLOBAL:
        return _GLOBAL[base] + ".weight"
    parts = base.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in _LAYER:
        return f"layers.{parts[1]}.{_LAYER[parts[2]]}.weight"
    return None


def _field(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def params_of(reader: Any) -> dict[str, Any]:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"architecture {arch!r}: only llama-architecture GGUFs convert")
    dim = int(_field(reader, "llama.embedding_length"))
    n_heads = int(_field(reader, "llama.attention.head_count"))
    vocab = _field(reader, "llama.vocab_size") or len(_field(reader, "tokenizer.ggml.tokens"))
    return {
        "dim": dim,
        "n_layers": int(_field(reader, "llama.block_count")),
        "n_heads": n_heads,
        "n_kv_heads": int(_field(reader, "llama.attention.head_count_kv", n_heads)),
        "vocab_size": int(vocab),
        "hidden_dim": int(_field(reader, "llama.feed_forward_length")),
        "norm_eps": float(_field(reader, "llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(_field(reader, "llama.rope.freq_base", 10000.0)),
        "use_scaled_rope": False,
    }


def checkpoint_of(reader: Any) -> dict[str, Any]:
    """Meta-layout float32 tensors holding the F16-rounded weights; a float tensor first."""
    import numpy as np
    import torch
    from gguf.quants import dequantize

    out: dict[str, Any] = {}
    for t in reader.tensors:
        name = meta_name(t.name)
        if name is None:
            continue
        values = dequantize(t.data, t.tensor_type)
        shape = [int(d) for d in reversed(t.shape.tolist())]
        values = np.asarray(values, dtype=np.float32).reshape(shape)
        # Round through float16 exactly as llama-quantize's F16 conversion does.
        values = values.astype(np.float16).astype(np.float32)
        out[name] = torch.from_numpy(np.ascontiguousarray(values))
    if "output.weight" not in out:
        out["output.weight"] = out["tok_embeddings.weight"].clone()
    # export_llama reads the dtype from the first key: an embedding (float32) first.
    first = "tok_embeddings.weight"
    return {first: out[first], **{k: v for k, v in out.items() if k != first}}


def tokenizer_of(reader: Any) -> dict[str, Any]:
    """A Hugging Face tokenizer.json (byte-level BPE) from the GGUF's tokenizer."""
    model = _field(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ValueError(f"tokenizer.ggml.model {model!r}: only byte-level BPE (gpt2) converts")
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    types = list(_field(reader, "tokenizer.ggml.token_type"))
    merges = list(_field(reader, "tokenizer.ggml.merges"))
    pre = _field(reader, "tokenizer.ggml.pre", "default")
    control = [i for i, t in enumerate(types) if t in (3, 4)]  # CONTROL, USER_DEFINED
    split = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": True,
    }
    pre_tok: dict[str, Any] = split
    if pre in DIGIT_SPLIT:
        pre_tok = {
            "type": "Sequence",
            "pretokenizers": [{"type": "Digits", "individual_digits": True}, split],
        }
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": tokens[i],
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i in control
        ],
        "normalizer": None,
        "pre_tokenizer": pre_tok,
        "post_processor": None,
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            "merges": merges,
        },
    }


def special_ids(reader: Any) -> dict[str, int | None]:
    def get(key: str) -> int | None:
        value = _field(reader, key)
        return int(value) if value is not None else None

    return {"bos": get("tokenizer.ggml.bos_token_id"), "eos": get("tokenizer.ggml.eos_token_id")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True, help="directory to write into")
    args = ap.parse_args(argv)
    import gguf
    import torch

    out = Path(args.out)
    reader = gguf.GGUFReader(args.gguf)
    try:
        params = params_of(reader)
        tokenizer = tokenizer_of(reader)
    except ValueError as exc:
        print(f"error: {args.gguf}: {exc}", file=sys.stderr)
        return 1
    (out / "params.json").write_text(json.dumps(params, indent=1) + "\n")
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False) + "\n")
    (out / "special.json").write_text(json.dumps(special_ids(reader)) + "\n")
    torch.save(checkpoint_of(reader), out / "consolidated.00.pth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
