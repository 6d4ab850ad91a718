"""Bytes per decode step of ExecuTorch programs, read from the .pte that runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.presets import get_preset
from pocketbench.core.devices.local import LocalDevice

from .conftest import job, needs_executorch

pytestmark = [pytest.mark.slow, pytest.mark.executorch, needs_executorch]


def test_fp32_reads_twice_the_bytes_of_bf16_without_the_embedding_table(pm) -> None:
    spec = get_preset("tiny")
    head_dim = spec.dim // spec.n_heads
    counts = {}
    for quant, element in (("baseline", 4), ("bf16", 2)):
        j = job(quant)
        prepared = pm.hook.pocketbench_prepare(job=j, device=LocalDevice())
        decode = pm.hook.pocketbench_decode_bytes(job=j, prepared=prepared)
        # The embedding is a lookup: its whole table is what is left out.
        assert decode.embedding_bytes == spec.vocab_size * spec.dim * element
        # What is read is the rest of the file's constants, at most the file itself.
        size = Path(prepared.describe["model"]).stat().st_size
        assert 0 < decode.weights_bytes < size - decode.embedding_bytes
        # K and V caches of every layer, in the export's dtype.
        assert (
            decode.kv_bytes_per_position == spec.n_layers * 2 * spec.n_kv_heads * head_dim * element
        )
        counts[quant] = decode
    # Independently, from the architecture: every parameter once (the tied table as the
    # output projection, its lookup copy left out), plus the RoPE tables (cos and sin,
    # fp32) and the XNNPACK delegate's description of its graph (tens of KB; measured
    # 16.7 KB on tiny): nothing else, and no parameter twice.
    extra = counts["baseline"].weights_bytes - 4 * spec.n_params()
    rope = 2 * spec.max_seq_len * (head_dim // 2) * 4
    assert 0 <= extra <= rope + 0.005 * 4 * spec.n_params()
    ratio = counts["baseline"].weights_bytes / counts["bf16"].weights_bytes
    assert 1.9 < ratio < 2.1


def test_a_file_that_is_no_program_is_one_line(tmp_path: Path) -> None:
    from pocketbench.backends.executorch.pte_bytes import decode_bytes

    bad = tmp_path / "exotic.pte"
    bad.write_bytes(b"not a flatbuffer" * 64)
    with pytest.raises(SetupError) as exc:
        decode_bytes(bad)
    assert "\n" not in str(exc.value)
    assert "cannot count the bytes a decode step reads" in str(exc.value)
