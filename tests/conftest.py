"""Fixtures shared by the whole suite."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # The bandwidth probe with small arrays: a fraction of a second per device
    # and placement (cached apart from full-size figures). Child `bench`
    # processes inherit it.
    os.environ.setdefault("POCKETBENCH_PROBE_MIB", "8")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def example_backend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example third-party backend, really installed (pip --target) into a folder."""
    target = tmp_path_factory.mktemp("site-example")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(REPO / "examples" / "pocketbench-numpy-backend"),
        ],
        check=True,
    )
    return target


@pytest.fixture
def run_bench(tmp_path: Path):
    """Run the installed ``bench`` console script in a subprocess, in ``tmp_path``."""
    from pocketbench.testing.cli import run_bench as run

    return functools.partial(run, cwd=tmp_path)


@pytest.fixture
def registry():
    """A fresh registry of the installed plugins (never one built at import time)."""
    from pocketbench.core.engine.plugins import Registry

    return Registry.from_entry_points(warn=lambda message: None)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A real results file with fabricated runs (reporters only format what is stored)."""
    from pocketbench.testing.fabricated import fabricate

    return fabricate(tmp_path / "results.db")


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Make fake installed distributions: a *.dist-info with entry_points.txt on sys.path."""
    site = tmp_path / "fake-site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> Path:
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{name} = {target}" for name, target in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for mod, source in modules.items():
            (site / f"{mod}.py").write_text(source)
        return site

    yield make
    for mod in list(sys.modules):
        if mod.startswith("fakeplug"):
            del sys.modules[mod]


# -- the fault-injection and bad-input suite ------------------------------------
# Fault cases live beside the component they break; these files (whole) and
# these tests (by name) form the suite, marked `fault`, and the run ends with
# a tally of them (`pytest -m fault` runs only the suite).
FAULT_FILES = {
    "tests/engine/test_runner.py",
    "tests/results/test_store.py",
    "tests/devices/adb/test_adb_faults.py",
    "tests/devices/adb/test_phone_faults.py",
    "tests/backends/llamacpp/test_llamacpp_plugin_fake.py",
    "tests/backends/executorch/test_executorch_bad_input.py",
    "tests/analysis/test_study_file.py",
    "tests/reliability/test_parser_fuzz.py",
    "tests/reliability/test_security.py",
    "tests/quality/test_quality_bad_input.py",
    "tests/reliability/test_signals_and_claims.py",
    "tests/reliability/test_store_faults.py",
    "tests/reliability/test_odd_values.py",
    "tests/reliability/test_output_and_cache.py",
    "tests/reliability/test_prepare_signals.py",
    "tests/reliability/test_damaged_artefacts.py",
    "tests/reliability/test_signals_several_devices.py",
    "tests/reliability/test_destinations.py",
    "tests/reliability/test_hostile_imports.py",
    "tests/reliability/test_hostile_runs.py",
    "tests/reliability/test_hostile_studies.py",
}
FAULT_NAMES = (
    "bad_input",
    "kill_9",
    "ctrl_c",
    "disappearing",
    "two_bench",
    "setup_failure",
    "newer_database",
    "timeout",
    "signal",
    "missing_program",
    "arguments_are_data",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = item.path.relative_to(REPO).as_posix()
        if rel in FAULT_FILES or any(n in item.name for n in FAULT_NAMES):
            item.add_marker(pytest.mark.fault)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        counts[outcome] = sum(
            1
            for r in terminalreporter.stats.get(outcome, [])
            if "fault" in getattr(r, "keywords", {}) and r.when in ("call", "setup")
        )
    if any(counts.values()):
        terminalreporter.write_line(
            "fault-injection and bad-input suite: "
            + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        )
