"""Bytes per decode step of llama.cpp models, read from the GGUF files that run.

Checked against the ``gguf`` package's own reader (an independent parser of
the same file), and against the architecture's shapes for the KV term.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.presets import get_preset


def _reader_bytes(path: Path) -> dict[str, int]:
    import gguf

    return {t.name: int(t.n_bytes) for t in gguf.GGUFReader(path).tensors}


def _kv_per_position(spec) -> int:  # noqa: ANN001
    head_dim = spec.dim // spec.n_heads
    return spec.n_layers * spec.n_kv_heads * 2 * head_dim * 2  # K and V, F16


@pytest.mark.slow
def test_q4_0_reads_fewer_bytes_than_f16_and_both_match_the_files(pm, job, local) -> None:
    spec = get_preset("tiny")
    counts = {}
    for quant in ("baseline", "q4_0"):
        j = job(quant)
        prepared = pm.hook.pocketbench_prepare(job=j, device=local)
        decode = pm.hook.pocketbench_decode_bytes(job=j, prepared=prepared)
        sizes = _reader_bytes(prepared.state.model_local)
        # tiny has tied embeddings: the table is read once, as the output projection.
        assert "output.weight" not in sizes
        assert decode.weights_bytes == sum(sizes.values())
        assert decode.embedding_bytes == 0
        assert decode.kv_bytes_per_position == _kv_per_position(spec)
        counts[quant] = decode
    assert counts["q4_0"].weights_bytes < counts["baseline"].weights_bytes / 2
    # The KV term is the same (F16 cache) whatever the weights' type.
    assert counts["q4_0"].per_token(100) - counts["q4_0"].weights_bytes == (
        counts["baseline"].per_token(100) - counts["baseline"].weights_bytes
    )


def _write_gguf(path: Path, *, output: bool, kv_heads: bool = True) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_block_count(1)
    w.add_feed_forward_length(64)
    w.add_head_count(4)
    if kv_heads:
        w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    tensors = {
        "token_embd.weight": (100, 32),
        "blk.0.attn_q.weight": (32, 32),
        "blk.0.attn_k.weight": (16, 32),
        "blk.0.attn_v.weight": (16, 32),
        "blk.0.attn_output.weight": (32, 32),
        "output_norm.weight": (32,),
    }
    if output:
        tensors["output.weight"] = (100, 32)
    for name, shape in tensors.items():
        w.add_tensor(name, np.ones(shape, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_an_untied_model_leaves_the_embedding_table_out(tmp_path: Path) -> None:
    from pocketbench.backends.llamacpp.decode_bytes import decode_bytes
    from pocketbench.backends.llamacpp.gguf_info import read_gguf_info

    path = tmp_path / "untied.gguf"
    _write_gguf(path, output=True)
    decode = decode_bytes(read_gguf_info(path))
    sizes = _reader_bytes(path)
    assert decode.embedding_bytes == sizes["token_embd.weight"] == 100 * 32 * 2
    assert decode.weights_bytes == sum(sizes.values()) - sizes["token_embd.weight"]
    assert decode.kv_bytes_per_position == 1 * 2 * 2 * (32 // 4) * 2


def test_a_model_without_its_kv_shape_is_one_line(tmp_path: Path) -> None:
    from pocketbench.backends.llamacpp.decode_bytes import decode_bytes
    from pocketbench.backends.llamacpp.gguf_info import read_gguf_info

    path = tmp_path / "exotic.gguf"
    _write_gguf(path, output=False)
    info = read_gguf_info(path)
    del info.metadata["llama.attention.head_count"]
    with pytest.raises(SetupError) as exc:
        decode_bytes(info)
    message = str(exc.value)
    assert "\n" not in message
    assert "llama.attention.head_count is missing" in message and "MBU" in message
