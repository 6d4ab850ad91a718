"""ExecuTorch on the real smollm2-135m: what it refuses before exporting anything.

The quality tests that export smollm2-135m (8da4w through the CLI, greedy and
KL agreement with llama.cpp) have not run yet; see issue 13's note.
"""

from __future__ import annotations

import pytest

pytest.importorskip("executorch")
pytestmark = [pytest.mark.slow, pytest.mark.executorch]


def test_spinquant_is_refused_for_a_model_without_meta_checkpoints(run_bench) -> None:
    r = run_bench("--backend", "executorch", "--quant", "spinquant", "--model", "smollm2-135m")
    assert r.returncode == 3
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "Llama 3.2 only" in line and "baseline, bf16 or 8da4w" in line
