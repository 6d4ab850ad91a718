"""Synthetic model presets: one architecture description for every runtime.

Inference speed depends on a model's shapes, not on its weight values, so a
random-weight model with the exact shapes of a published one is measured at
the speed of the published one.  Both built-in backends write their model
files from the same :class:`ModelSpec`, which keeps a comparison between
runtimes like for like.
"""

from __future__ import annotations

import hashlib
import json

import attrs
from attrs import frozen


@frozen(kw_only=True)
class ModelSpec:
    """The shapes of a Llama-family decoder (Meta's params.json vocabulary).

    A backend writes its own model file from these (random weights, the same
    seed for every runtime), so two runtimes measure the same shapes.
    """

    #: The preset's name on the command line (``--model tiny``).
    name: str
    #: Hidden size (embedding width); ``head_dim`` = ``dim // n_heads``.
    dim: int
    #: Number of transformer blocks.
    n_layers: int
    #: Attention (query) heads per block.
    n_heads: int
    #: Key/value heads per block (fewer than ``n_heads``: grouped-query attention).
    n_kv_heads: int
    #: Tokens in the vocabulary; every id the model can emit must decode.
    vocab_size: int
    #: Width of the feed-forward (SwiGLU) layer: ``hidden_dim`` in params.json.
    ffn_dim: int
    #: RMSNorm epsilon.
    norm_eps: float = 1e-5
    #: RoPE base frequency.
    rope_theta: float = 10000.0
    #: Llama-3's RoPE frequency scaling (the ``rope_*`` fields below).
    use_scaled_rope: bool = False
    #: Llama-3 rope scaling parameters (used when ``use_scaled_rope``).
    rope_scale_factor: float = 32.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_context: int = 8192
    #: The output projection is the embedding table (no separate ``output.weight``).
    tied_embeddings: bool = True
    #: Longest sequence the synthetic model is built for (prompt + new tokens).
    max_seq_len: int = 1024
    #: Tokenizer family the synthetic tokenizer imitates ("llama2" or "llama3").
    tokenizer: str = "llama2"
    #: One line for ``bench plugins`` and the docs.
    description: str = ""

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def n_params(self) -> int:
        """Parameter count (tied embeddings counted once)."""
        hd = self.head_dim
        attn = self.dim * (self.n_heads * hd) * 2 + self.dim * (self.n_kv_heads * hd) * 2
        ffn = 3 * self.dim * self.ffn_dim
        per_layer = attn + ffn + 2 * self.dim
        emb = self.vocab_size * self.dim
        out = 0 if self.tied_embeddings else emb
        return self.n_layers * per_layer + emb + out + self.dim

    def params_json(self) -> dict[str, object]:
        """Meta-format params.json for this architecture."""
        return {
            "dim": self.dim,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "vocab_size": self.vocab_size,
            "hidden_dim": self.ffn_dim,
            "norm_eps": self.norm_eps,
            "rope_theta": self.rope_theta,
            "use_scaled_rope": self.use_scaled_rope,
        }

    def fingerprint(self) -> str:
        """A short content hash of the shapes, for cache keys."""
        blob = json.dumps(attrs.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


PRESETS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="tiny",
            dim=256,
            n_layers=2,
            n_heads=4,
            n_kv_heads=2,
            vocab_size=2048,
            # A power of two: SpinQuant's Hadamard kernel takes 2^k or 28*2^k widths.
            ffn_dim=1024,
            max_seq_len=512,
            description="2 layers, dim 256: for tests, runs in well under a second",
        ),
        ModelSpec(
            name="stories110m",
            dim=768,
            n_layers=12,
            n_heads=12,
            n_kv_heads=12,
            vocab_size=32000,
            ffn_dim=2048,
            max_seq_len=1024,
            description="llama2.c stories110M shapes (110M params): the quick embedded default",
        ),
        ModelSpec(
            name="llama-3.2-1b",
            dim=2048,
            n_layers=16,
            n_heads=32,
            n_kv_heads=8,
            vocab_size=128256,
            ffn_dim=8192,
            rope_theta=500000.0,
            use_scaled_rope=True,
            tied_embeddings=True,
            max_seq_len=1024,
            tokenizer="llama3",
            description="exact shapes of Llama-3.2-1B(-Instruct), the Galaxy A25 study's model",
        ),
    )
}


def get_preset(name: str) -> ModelSpec | None:
    """The preset called ``name``, or None when ``name`` is not a preset."""
    return PRESETS.get(name)
