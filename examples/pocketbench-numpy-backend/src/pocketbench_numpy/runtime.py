"""A tiny decoder-only transformer in NumPy (random weights), timed like a real runtime."""

from __future__ import annotations

import argparse
import time

import numpy as np

from pocketbench.plugin import get_preset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--prompt-tokens", type=int, required=True)
    ap.add_argument("--gen-tokens", type=int, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    spec = get_preset(a.preset)
    assert spec is not None
    rng = np.random.default_rng(a.seed)
    dtype = np.float16 if a.dtype == "fp16" else np.float32
    d, f = spec.dim, spec.ffn_dim
    layers = [
        {
            k: (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(dtype)
            for k, shape in {"qkvo": (d, 4 * d), "up": (d, 2 * f), "down": (f, d)}.items()
        }
        for _ in range(spec.n_layers)
    ]
    emb = (rng.standard_normal((spec.vocab_size, d), dtype=np.float32) * 0.02).astype(dtype)

    def forward(x: np.ndarray) -> np.ndarray:
        for lw in layers:
            h = x @ lw["qkvo"].astype(np.float32)
            x = x + h[:, :d]
            up = x @ lw["up"].astype(np.float32)
            x = x + (up[:, :f] * (1 / (1 + np.exp(-up[:, f:])))) @ lw["down"].astype(np.float32)
        return x

    tokens = rng.integers(0, spec.vocab_size, a.prompt_tokens)
    t0 = time.perf_counter()
    x = forward(emb[tokens].astype(np.float32))
    # pocketbench's definition: the first new token comes from the prompt's
    # logits, so G new tokens take G-1 decode steps after prompt evaluation.
    nxt = int(np.argmax(x[-1:] @ emb.T.astype(np.float32)))
    t1 = time.perf_counter()
    for _ in range(a.gen_tokens - 1):
        last = forward(emb[nxt : nxt + 1].astype(np.float32))
        nxt = int(np.argmax(last @ emb.T.astype(np.float32)))
    t2 = time.perf_counter()
    print(f"prompt: {a.prompt_tokens} tokens in {t1 - t0:.6f} s")
    print(f"generation: {a.gen_tokens} tokens, {a.gen_tokens - 1} decode steps in {t2 - t1:.6f} s")


if __name__ == "__main__":
    main()
