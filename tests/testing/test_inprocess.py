"""The in-process runner plugin authors test with: the same checks and store as bench run."""

from __future__ import annotations

import pytest

from pocketbench.plugin import UsageError
from pocketbench.testing.backends import FakeBackend
from pocketbench.testing.inprocess import measure


def test_measure_stores_every_run_and_its_statistics(tmp_path) -> None:
    backend = FakeBackend(schemes={"baseline": (100.0, 20.0), "q4": (200.0, 40.0)})
    config = measure(backend, "mine", tmp_path, quant="Q4", runs=3, warmup=1)
    assert (config.backend, config.quant) == ("mine", "q4")  # the alias made canonical
    assert config.n_ok == 3 and len(config.warmups) == 1
    assert config.summary("generation_tps").mean == pytest.approx(40.0, rel=0.1)
    assert backend.prepared == 1


def test_measure_refuses_what_bench_refuses(tmp_path) -> None:
    with pytest.raises(UsageError, match="Choose one of: baseline, q4"):
        measure(FakeBackend(), "mine", tmp_path, quant="q2")
    with pytest.raises(UsageError, match="Unknown option 'nope' for backend 'mine'"):
        measure(FakeBackend(), "mine", tmp_path, options={"nope": "1"})


def test_a_crashing_run_is_stored_as_failed_with_its_output(tmp_path) -> None:
    crash = "import sys; print('segfault-ish', file=sys.stderr); sys.exit(139)"
    config = measure(FakeBackend(scripts=[crash]), "mine", tmp_path, runs=2, warmup=0)
    assert config.n_ok == 0 and config.n_failed == 2
    assert config.records[0].result.stderr == "segfault-ish\n"
