"""Write random-weight Meta-format checkpoints (run as a child process).

``python -m pocketbench.backends.executorch.synth --params P --kind K --out F``

Speed depends on shapes, not weight values, so a random checkpoint with a
published model's shapes runs at that model's speed.  It must still be a
proper checkpoint: without one ``export_llama`` builds the model on the meta
device and leaves norms and RoPE tables uninitialised.

Kinds:

``base``
    Meta's ``consolidated.00.pth`` layout in bf16 (the dtype Meta ships),
    norm weights one, untied ``output.weight``.
``preq``
    A prequantized INT4_EO8 checkpoint in the layout of Meta's SpinQuant
    release: every linear ``<fqn>.weight`` int8 holding 4-bit values in
    [-8, 7] with ``<fqn>.scales`` [out, in/group]; ``output`` int8 with
    per-row scales; 8-bit embeddings with per-row scales.
``preq-lora``
    ``preq`` plus bf16 LoRA adaptors ``<fqn>.adaptor.{A,B}.weight`` on every
    linear of every layer (Meta's QAT+LoRA layout).

Run in a child so that the memory of a 1B-parameter checkpoint goes back to
the system as soon as it is written, and torch is never imported by ``bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

LINEARS = (
    "attention.wq",
    "attention.wk",
    "attention.wv",
    "attention.wo",
    "feed_forward.w1",
    "feed_forward.w2",
    "feed_forward.w3",
)


def hidden_dim(params: dict) -> int:
    """The feed-forward width, computed the way ExecuTorch's ModelArgs does."""
    if params.get("hidden_dim"):
        return int(params["hidden_dim"])
    dim = int(params["dim"])
    multiple_of = int(params.get("multiple_of", 256))
    hidden = int(2 * (4 * dim) / 3)
    if params.get("ffn_dim_multiplier") is not None:
        hidden = int(params["ffn_dim_multiplier"] * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def linear_shapes(params: dict) -> dict[str, tuple[int, int]]:
    """[out, in] of every linear of one layer, keyed by its name inside the layer."""
    dim = int(params["dim"])
    n_heads = int(params["n_heads"])
    n_kv = int(params.get("n_kv_heads") or n_heads)
    head_dim = int(params.get("head_dim") or dim // n_heads)
    ffn = hidden_dim(params)
    return {
        "attention.wq": (n_heads * head_dim, dim),
        "attention.wk": (n_kv * head_dim, dim),
        "attention.wv": (n_kv * head_dim, dim),
        "attention.wo": (dim, n_heads * head_dim),
        "feed_forward.w1": (ffn, dim),
        "feed_forward.w2": (dim, ffn),
        "feed_forward.w3": (ffn, dim),
    }


def build(params: dict, kind: str, seed: int = 0) -> dict:
    """The checkpoint as a dict of tensors; float tensors come first (see module doc)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    dim = int(params["dim"])
    vocab = int(params["vocab_size"])
    n_layers = int(params["n_layers"])
    shapes = linear_shapes(params)
    ckpt: dict[str, torch.Tensor] = {}

    def normal(*shape: int, dtype: torch.dtype = torch.bfloat16, std: float = 0.02) -> torch.Tensor:
        return (torch.randn(*shape, generator=gen) * std).to(dtype)

    def int4(out_f: int, in_f: int) -> torch.Tensor:
        return torch.randint(-8, 8, (out_f, in_f), generator=gen, dtype=torch.int8)

    def int8(out_f: int, in_f: int) -> torch.Tensor:
        return torch.randint(-128, 128, (out_f, in_f), generator=gen, dtype=torch.int8)

    def scales(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        # |w| = |q| * scale stays near a std-0.02 float weight.
        return (0.002 + 0.002 * torch.rand(*shape, generator=gen)).to(dtype)

    if kind == "base":
        ckpt["tok_embeddings.weight"] = normal(vocab, dim)
        for i in range(n_layers):
            for name, (o, n) in shapes.items():
                ckpt[f"layers.{i}.{name}.weight"] = normal(o, n)
            ckpt[f"layers.{i}.attention_norm.weight"] = torch.ones(dim, dtype=torch.bfloat16)
            ckpt[f"layers.{i}.ffn_norm.weight"] = torch.ones(dim, dtype=torch.bfloat16)
        ckpt["norm.weight"] = torch.ones(dim, dtype=torch.bfloat16)
        ckpt["output.weight"] = normal(vocab, dim)
        return ckpt

    if kind not in ("preq", "preq-lora"):
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    group = int(params["quantization_args"]["group_size"])
    # The dtype is read from the first key: a float tensor (fp32 = the -d dtype).
    ckpt["norm.weight"] = torch.ones(dim, dtype=torch.float32)
    ckpt["tok_embeddings.weight"] = int8(vocab, dim)
    ckpt["tok_embeddings.scales"] = scales(vocab) / 16
    for i in range(n_layers):
        ckpt[f"layers.{i}.attention_norm.weight"] = torch.ones(dim, dtype=torch.float32)
        ckpt[f"layers.{i}.ffn_norm.weight"] = torch.ones(dim, dtype=torch.float32)
        for name, (o, n) in shapes.items():
            if n % group:
                raise ValueError(f"{name}: in_features {n} is not a multiple of group {group}")
            ckpt[f"layers.{i}.{name}.weight"] = int4(o, n)
            ckpt[f"layers.{i}.{name}.scales"] = scales(o, n // group)
            if kind == "preq-lora":
                rank = int(params["lora_args"]["rank"])
                ckpt[f"layers.{i}.{name}.adaptor.A.weight"] = normal(rank, n)
                ckpt[f"layers.{i}.{name}.adaptor.B.weight"] = normal(o, rank)
    ckpt["output.weight"] = int8(vocab, dim)
    ckpt["output.scales"] = scales(vocab) / 16
    return ckpt


def preq_params(params: dict, *, group_size: int = 32, lora_rank: int | None = None) -> dict:
    """params.json of a prequantized checkpoint (Meta's keys)."""
    out = dict(params)
    out["quantization_args"] = {"group_size": group_size}
    if lora_rank:
        out["lora_args"] = {"rank": lora_rank, "scale": 2.0}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", required=True, type=Path, help="params.json (Meta format)")
    ap.add_argument("--kind", required=True, choices=("base", "preq", "preq-lora"))
    ap.add_argument("--out", required=True, type=Path, help="checkpoint file to write")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    params = json.loads(args.params.read_text())
    ckpt = build(params, args.kind, args.seed)
    tmp = args.out.with_name(args.out.name + f".tmp{os.getpid()}")
    torch.save(ckpt, tmp)
    os.replace(tmp, args.out)
    n = sum(t.numel() for t in ckpt.values())
    print(f"wrote {args.out} ({len(ckpt)} tensors, {n / 1e6:.1f} M values)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
