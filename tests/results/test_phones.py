"""Device-to-device against run-to-run variation: the mixed model on known data."""

from __future__ import annotations

import random

import pytest

from pocketbench.core.results.phones import replica_key, split_sentence, variance_split


def samples(
    phone_means: list[float], run_sd: float, runs: int, seed: int = 7
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {
        f"phone{i}": [rng.gauss(m, run_sd) for _ in range(runs)] for i, m in enumerate(phone_means)
    }


def test_units_that_differ_are_told_apart_from_run_to_run_noise() -> None:
    split = variance_split(samples([20.0, 24.0, 28.0, 32.0], run_sd=0.3, runs=8))
    assert split is not None and split.phones == 4 and split.runs == 32
    assert split.phone_share > 0.9
    assert split.phone_sd == pytest.approx(5.16, rel=0.3) and split.run_sd == pytest.approx(
        0.3, rel=0.4
    )
    assert "the units differ: quote per-phone figures" in split_sentence("llama.cpp Q4_0", split)


def test_identical_units_leave_the_spread_to_the_runs() -> None:
    split = variance_split(samples([25.0] * 4, run_sd=1.0, runs=8))
    assert split is not None and split.phone_share < 0.3
    assert split.mean == pytest.approx(25.0, abs=0.6)
    assert "the units agree: the figure stands for this phone model" in split_sentence("x", split)


def test_too_few_phones_or_runs_give_no_split() -> None:
    assert variance_split({"a": [1.0, 2.0]}) is None
    assert variance_split({"a": [1.0, 2.0], "b": [3.0]}) is None


def test_the_replica_key_leaves_out_only_the_device() -> None:
    a = "llamacpp|q4_0|tiny|adb://h1:5037/s1|p16|g8|t1"
    b = "llamacpp|q4_0|tiny|adb://h2:5037/s2|p16|g8|t1"
    assert replica_key(a) == replica_key(b) != replica_key(a.replace("q4_0", "q8_0"))
