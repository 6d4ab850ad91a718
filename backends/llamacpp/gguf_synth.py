"""Write a synthetic preset (:class:`~pocketbench.core.api.presets.ModelSpec`) as an F16 GGUF.

Speed depends on shapes, not weight values, so the weights are random.  The
file is streamed tensor by tensor (memory stays at about one tensor, even for
the 2.5 GB Llama-3.2-1B preset) and cached by content: the file name carries
the spec's fingerprint and :data:`WRITER_VERSION`, so a changed spec or
writer gives a new file and an unchanged one is reused.

The tokenizer is the simplest one llama.cpp accepts as valid: SentencePiece
style (``tokenizer.ggml.model = "llama"``) with ``<unk> <s> </s>``, the 256
byte tokens, printable characters, a list of whole words with all their
prefixes (so every word is one token), and fillers up to the vocabulary size.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pocketbench.plugin import (
    NEUTRAL_WORDS,
    ModelSpec,
    cache_dir,
    cached,
    file_lock,
    publish,
    status,
    temp_beside,
)

#: Bumped whenever the bytes written for a given spec change.
WRITER_VERSION = 2

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
#: Ids that print nothing when generated: the control tokens and the byte token <0x00>.
SILENT_IDS = (UNK_ID, BOS_ID, EOS_ID, 3)
#: SentencePiece marks a word start with U+2581; llama.cpp does the same.
SPACE = "\u2581"
#: llama.cpp token types (llama_token_type).
_NORMAL, _UNKNOWN, _CONTROL, _UNUSED, _BYTE = 1, 2, 3, 5, 6

#: Whole-word tokens: the neutral prompt's words, so with the synthetic
#: tokenizer one word is exactly one token.
WORDS: tuple[str, ...] = NEUTRAL_WORDS
#: Characters given their own token, so arbitrary text rarely needs bytes.
CHARS = "".join(chr(c) for c in range(33, 127))


def vocabulary(vocab_size: int) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the synthetic tokenizer."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    pieces: list[str] = [SPACE, *CHARS]
    seen = set(pieces)
    for word in WORDS:
        # Every prefix must exist: llama.cpp's SentencePiece tokenizer merges
        # adjacent symbols pairwise, so "▁the" is reached via "▁t", "▁th".
        for end in range(1, len(word) + 1):
            piece = SPACE + word[:end]
            if piece not in seen:
                seen.add(piece)
                pieces.append(piece)
    room = vocab_size - len(tokens)
    if len(pieces) > room:
        raise ValueError(f"vocab_size {vocab_size} is too small for the synthetic tokenizer")
    tokens += pieces
    types += [_NORMAL] * len(pieces)
    # Fillers reach the model's vocabulary size.  No text produces them (no
    # prefix of "<fill" is a piece, so no merge reaches one), but each prints
    # itself when generated: random weights mostly pick fillers, and a token
    # that prints nothing would be invisible to per-token timing.
    fill = vocab_size - len(tokens)
    tokens += [f"<fill{i}>" for i in range(fill)]
    types += [_NORMAL] * fill
    # Longer pieces score higher, so merges prefer whole words (fillers: no merges).
    scores = [
        float(len(tok)) if t == _NORMAL and not tok.startswith("<fill") else 0.0
        for tok, t in zip(tokens, types)
    ]
    return tokens, scores, types


def rope_factors(spec: ModelSpec) -> np.ndarray:
    """Llama-3 rope scaling as per-frequency divisors (``rope_freqs.weight``)."""
    hd = spec.head_dim
    freqs = 1.0 / (spec.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    low_wavelen = spec.rope_original_context / spec.rope_low_freq_factor
    high_wavelen = spec.rope_original_context / spec.rope_high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(spec.rope_scale_factor)
        else:
            smooth = (spec.rope_original_context / wavelen - spec.rope_low_freq_factor) / (
                spec.rope_high_freq_factor - spec.rope_low_freq_factor
            )
            out.append(1.0 / ((1 - smooth) / spec.rope_scale_factor + smooth))
    return np.asarray(out, dtype=np.float32)


def tensor_plan(spec: ModelSpec) -> list[tuple[str, tuple[int, ...], type]]:
    """(name, numpy shape, dtype) of every tensor, in file order.

    Shapes are numpy's (rows = outputs); GGUF stores them reversed.  Norms and
    rope factors are F32 like llama.cpp's own converter writes them.
    """
    hd = spec.head_dim
    q, kv = spec.n_heads * hd, spec.n_kv_heads * hd
    f16, f32 = np.float16, np.float32
    plan: list[tuple[str, tuple[int, ...], type]] = [
        ("token_embd.weight", (spec.vocab_size, spec.dim), f16)
    ]
    if spec.use_scaled_rope:
        plan.append(("rope_freqs.weight", (hd // 2,), f32))
    for i in range(spec.n_layers):
        b = f"blk.{i}."
        plan += [
            (b + "attn_norm.weight", (spec.dim,), f32),
            (b + "attn_q.weight", (q, spec.dim), f16),
            (b + "attn_k.weight", (kv, spec.dim), f16),
            (b + "attn_v.weight", (kv, spec.dim), f16),
            (b + "attn_output.weight", (spec.dim, q), f16),
            (b + "ffn_norm.weight", (spec.dim,), f32),
            (b + "ffn_gate.weight", (spec.ffn_dim, spec.dim), f16),
            (b + "ffn_up.weight", (spec.ffn_dim, spec.dim), f16),
            (b + "ffn_down.weight", (spec.dim, spec.ffn_dim), f16),
        ]
    plan.append(("output_norm.weight", (spec.dim,), f32))
    if not spec.tied_embeddings:  # no output.weight means tied embeddings
        plan.append(("output.weight", (spec.vocab_size, spec.dim), f16))
    return plan


def _tensor_data(
    spec: ModelSpec, index: int, name: str, shape: tuple[int, ...], dtype: type
) -> np.ndarray:
    if name.endswith("_norm.weight"):
        return np.ones(shape, dtype=dtype)
    if name == "rope_freqs.weight":
        return rope_factors(spec)
    # One generator per tensor: the file is reproducible byte for byte.
    rng = np.random.default_rng([WRITER_VERSION, index])
    # 1/sqrt(fan_in) keeps activations bounded through the layers.
    std = 1.0 / math.sqrt(shape[-1])
    data = rng.standard_normal(shape, dtype=np.float32)
    data *= std
    if name in ("token_embd.weight", "output.weight"):
        # The end-of-sequence row is zero, so its logit is exactly 0 while
        # the largest random logit is positive: greedy decoding never picks
        # it, and every run generates exactly the asked number of tokens.
        # The other ids that print nothing (control tokens, the NUL byte)
        # are never picked either, so every generated token prints something.
        data[list(SILENT_IDS)] = 0.0
    return data.astype(dtype)


def write_gguf(spec: ModelSpec, path: Path) -> None:
    """Write ``spec`` as an F16 GGUF at ``path`` (streamed: one tensor in memory)."""
    import gguf

    writer = gguf.GGUFWriter(None, "llama")
    writer.add_name(f"pocketbench synthetic {spec.name}")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(spec.max_seq_len)
    writer.add_embedding_length(spec.dim)
    writer.add_block_count(spec.n_layers)
    writer.add_feed_forward_length(spec.ffn_dim)
    writer.add_head_count(spec.n_heads)
    writer.add_head_count_kv(spec.n_kv_heads)
    writer.add_rope_dimension_count(spec.head_dim)
    writer.add_rope_freq_base(spec.rope_theta)
    writer.add_layer_norm_rms_eps(spec.norm_eps)
    writer.add_vocab_size(spec.vocab_size)
    tokens, scores, types = vocabulary(spec.vocab_size)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_unk_token_id(UNK_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    plan = tensor_plan(spec)
    for name, shape, dtype in plan:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        writer.add_tensor_info(name, shape, np.dtype(dtype), nbytes)
    writer.write_header_to_file(path=Path(path))
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    try:
        for index, (name, shape, dtype) in enumerate(plan):
            writer.write_tensor_data(_tensor_data(spec, index, name, shape, dtype))
    finally:
        writer.close()


def preset_path(spec: ModelSpec) -> Path:
    """Where the preset's GGUF is cached (named by content, not by preset name alone)."""
    return (
        cache_dir("llamacpp", "models")
        / f"{spec.name}-{spec.fingerprint()}-w{WRITER_VERSION}-F16.gguf"
    )


def ensure_preset(spec: ModelSpec) -> Path:
    """The preset's cached GGUF, written first when absent (locked, atomic)."""
    path = preset_path(spec)
    if cached(path):
        return path
    with file_lock(path.with_suffix(".lock")):
        if cached(path):  # written by another process while we waited
            return path
        with (
            temp_beside(path) as tmp,
            status(f"writing synthetic model {spec.name} (one time)..."),
        ):
            write_gguf(spec, tmp)
            tmp.chmod(0o644)  # mkstemp made it private
            publish(tmp, path)
    return path
