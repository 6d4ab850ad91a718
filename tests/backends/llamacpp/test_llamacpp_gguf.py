"""Synthetic GGUF presets (read back with gguf's own reader) and GGUF validation."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest

from pocketbench.backends.llamacpp import gguf_synth
from pocketbench.backends.llamacpp.gguf_info import read_gguf_info
from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.presets import PRESETS, ModelSpec


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _field(reader: gguf.GGUFReader, key: str):  # noqa: ANN202
    f = reader.fields[key]
    return f.contents()


def test_tiny_round_trip(cache: Path) -> None:
    spec = PRESETS["tiny"]
    path = gguf_synth.ensure_preset(spec)
    assert path.is_relative_to(cache)
    r = gguf.GGUFReader(path)
    assert _field(r, "general.architecture") == "llama"
    assert _field(r, "general.file_type") == gguf.LlamaFileType.MOSTLY_F16
    assert _field(r, "llama.embedding_length") == spec.dim
    assert _field(r, "llama.block_count") == spec.n_layers
    assert _field(r, "llama.attention.head_count") == spec.n_heads
    assert _field(r, "llama.attention.head_count_kv") == spec.n_kv_heads
    assert _field(r, "llama.feed_forward_length") == spec.ffn_dim
    assert _field(r, "llama.rope.dimension_count") == spec.head_dim
    assert _field(r, "llama.vocab_size") == spec.vocab_size
    assert _field(r, "tokenizer.ggml.model") == "llama"
    tokens = _field(r, "tokenizer.ggml.tokens")
    assert len(tokens) == spec.vocab_size
    assert tokens[:3] == ["<unk>", "<s>", "</s>"]
    assert "\u2581the" in tokens

    tensors = {t.name: t for t in r.tensors}
    # GGUF shapes are reversed numpy shapes: (ne0, ne1) = (in, out).
    assert list(tensors["token_embd.weight"].shape) == [spec.dim, spec.vocab_size]
    kv = spec.n_kv_heads * spec.head_dim
    assert list(tensors["blk.0.attn_k.weight"].shape) == [spec.dim, kv]
    assert list(tensors["blk.1.ffn_down.weight"].shape) == [spec.ffn_dim, spec.dim]
    assert tensors["blk.0.attn_q.weight"].tensor_type == gguf.GGMLQuantizationType.F16
    assert tensors["output_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32
    assert "output.weight" not in tensors  # tied embeddings
    assert "rope_freqs.weight" not in tensors  # tiny has no Llama-3 rope scaling
    assert len(tensors) == 2 + 9 * spec.n_layers

    embd = np.asarray(tensors["token_embd.weight"].data)
    # EOS and the other tokens that print nothing can never be the greedy choice.
    assert not embd[list(gguf_synth.SILENT_IDS)].any()
    assert embd[tokens.index("\u2581the")].any()
    assert embd[-1].any()  # a filler: generated, and printed as "<fillN>"
    assert np.all(np.asarray(tensors["blk.0.attn_norm.weight"].data) == 1.0)

    info = read_gguf_info(path)
    assert (info.architecture, info.quant_type, info.file_type) == ("llama", "F16", "MOSTLY_F16")
    assert info.n_params == spec.n_params()


def test_preset_is_cached_and_reproducible(cache: Path, tmp_path: Path) -> None:
    spec = PRESETS["tiny"]
    first = gguf_synth.ensure_preset(spec)
    mtime = first.stat().st_mtime_ns
    assert gguf_synth.ensure_preset(spec) == first
    assert first.stat().st_mtime_ns == mtime  # not rewritten
    again = tmp_path / "again.gguf"
    gguf_synth.write_gguf(spec, again)
    assert again.read_bytes() == first.read_bytes()
    # Nothing half-written is left beside the cached file.
    assert [p.name for p in first.parent.iterdir() if p.name.startswith(".")] == []


def test_changed_spec_gets_a_new_file(cache: Path) -> None:
    import attrs

    spec = PRESETS["tiny"]
    other = attrs.evolve(spec, ffn_dim=512)
    assert gguf_synth.preset_path(spec) != gguf_synth.preset_path(other)


def test_llama3_shapes_rope_scaling_and_tied_embeddings(tmp_path: Path) -> None:
    """The 1B preset's layout, checked on a small spec with the same features."""
    spec = ModelSpec(
        name="mini-llama3", dim=128, n_layers=1, n_heads=4, n_kv_heads=1, vocab_size=1024,
        ffn_dim=256, rope_theta=500000.0, use_scaled_rope=True, tokenizer="llama3",
    )  # fmt: skip
    path = tmp_path / "m.gguf"
    gguf_synth.write_gguf(spec, path)
    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}
    freqs = np.asarray(tensors["rope_freqs.weight"].data)
    assert freqs.shape == (spec.head_dim // 2,)
    # Llama-3 scaling: high frequencies untouched, low ones divided by the factor.
    assert freqs[0] == 1.0 and freqs[-1] == pytest.approx(spec.rope_scale_factor)
    assert np.all(np.diff(freqs) >= 0)
    assert "output.weight" not in tensors
    assert _field(r, "llama.rope.freq_base") == pytest.approx(500000.0)


def test_plan_of_the_1b_preset_matches_llama_3_2_1b() -> None:
    spec = PRESETS["llama-3.2-1b"]
    plan = {name: shape for name, shape, _ in gguf_synth.tensor_plan(spec)}
    assert plan["token_embd.weight"] == (128256, 2048)
    assert plan["blk.0.attn_k.weight"] == (512, 2048)
    assert plan["blk.15.ffn_gate.weight"] == (8192, 2048)
    assert plan["rope_freqs.weight"] == (32,)
    assert "output.weight" not in plan and "blk.16.attn_q.weight" not in plan
    n = sum(int(np.prod(s)) for s in plan.values())
    assert n == pytest.approx(1.236e9, rel=0.01)  # llama.cpp reports 1.24 B params


def test_vocabulary_makes_every_word_one_token() -> None:
    tokens, scores, types = gguf_synth.vocabulary(2048)
    assert len(tokens) == len(scores) == len(types) == 2048
    assert len(set(tokens)) == len(tokens)
    for word in gguf_synth.WORDS:
        assert "\u2581" + word in tokens
    with pytest.raises(ValueError, match="too small"):
        gguf_synth.vocabulary(300)


# -- validation of user files -------------------------------------------------------


@pytest.fixture
def tiny(cache: Path) -> Path:
    return gguf_synth.ensure_preset(PRESETS["tiny"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no such file"):
        read_gguf_info(tmp_path / "nope.gguf")


def test_not_a_gguf(tmp_path: Path) -> None:
    p = tmp_path / "model.gguf"
    p.write_text("this is a text file, not a model\n")
    with pytest.raises(SetupError, match="not a GGUF file"):
        read_gguf_info(p)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.gguf"
    p.write_bytes(b"")
    with pytest.raises(SetupError, match="not a GGUF file"):
        read_gguf_info(p)


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.001])
def test_truncated_gguf(tiny: Path, tmp_path: Path, keep: float) -> None:
    p = tmp_path / "cut.gguf"
    data = tiny.read_bytes()
    p.write_bytes(data[: max(8, int(len(data) * keep))])
    with pytest.raises(SetupError, match="truncated GGUF"):
        read_gguf_info(p)


def test_unsupported_architecture(tmp_path: Path) -> None:
    p = tmp_path / "weird.gguf"
    w = gguf.GGUFWriter(p, "not-an-llm")
    w.add_tensor("x", np.zeros(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(SetupError, match="architecture 'not-an-llm' is not supported"):
        read_gguf_info(p)


def test_embedding_model_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "bert.gguf"
    w = gguf.GGUFWriter(p, "bert")
    w.add_tensor("x", np.zeros(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(SetupError, match="cannot generate text"):
        read_gguf_info(p)


def test_errors_are_one_line(tiny: Path, tmp_path: Path) -> None:
    p = tmp_path / "cut.gguf"
    p.write_bytes(tiny.read_bytes()[:1000])
    with pytest.raises(SetupError) as exc:
        read_gguf_info(p)
    assert "\n" not in str(exc.value) and os.fspath(p) in str(exc.value)
