"""Fixtures of the study tests: two fake frameworks at the Galaxy A25 study's speeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.core.engine.plugins import Registry
from pocketbench.testing.backends import FakeBackend, registry_with

#: The Galaxy A25 study's means (prompt, generation tokens/s) per fake framework and scheme.
GALAXY_A25_SPEEDS = {
    "fake-et": {"baseline": (7.14, 5.31), "spinquant": (57.72, 15.42), "qat-lora": (54.48, 15.42)},
    "fake-cpp": {
        "baseline": (28.47, 5.64),
        "q8_0": (9.83, 9.45),
        "q4_0": (31.52, 11.58),
        "q4_k_m": (30.0, 11.0),
    },
}

GALAXY_A25_STUDY = """
name = "galaxy-a25-fake"
title = "Llama speed on a phone: fake ExecuTorch vs fake llama.cpp"
description = "The Galaxy A25 study, re-run by pocketbench with 50% \\\\input{x} _&# <script> | in it."
models = ["tiny"]
devices = ["local"]
runs = 8
warmup = 1

[workload]
prompt_tokens = 16
gen_tokens = 8
threads = 2

[[framework]]
backend = "fake-et"
label = "ExecuTorch"
quants = ["baseline", "spinquant", "qat-lora"]
labels = { baseline = "Baseline", spinquant = "SpinQuant", qat-lora = "QAT+LoRA" }

[[framework]]
backend = "fake-cpp"
label = "Llama.cpp"
quants = ["baseline", "q8_0", "q4_0"]
labels = { baseline = "Baseline", q8_0 = "Q8_0", q4_0 = "Q4_0" }
"""


@pytest.fixture
def fake_registry() -> Registry:
    return registry_with(*(FakeBackend(n, s) for n, s in GALAXY_A25_SPEEDS.items()))


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "galaxy-a25-fake.toml"
    path.write_text(GALAXY_A25_STUDY, encoding="utf-8")
    return path


def bench(registry: Registry, *args: str) -> int:
    """``bench ARGS`` in this process with the fake frameworks; its exit code.

    An expected error is printed as bench prints it: one ``error:`` line on stderr.
    """
    import sys

    import click

    from pocketbench.core.api.errors import PocketbenchError
    from pocketbench.core.cli.main import build_cli

    try:
        result = build_cli().main(
            args=list(args), obj={"registry": registry}, standalone_mode=False, prog_name="bench"
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except PocketbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    return int(result or 0)
