"""--cores and --energy on this host: sched_setaffinity really applied; RAPL read or "not available"."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.devices import rapl
from pocketbench.core.devices.base import RunSetup
from pocketbench.core.devices.local import LocalDevice

SHOW_CORES = "import os; print(sorted(os.sched_getaffinity(0)))"


def test_the_runtime_starts_pinned_to_the_asked_cores() -> None:
    last = max(os.sched_getaffinity(0))  # this host may have only two cores: use what exists
    device = LocalDevice()
    device.check_setup(RunSetup(cores=(last,)))
    device.use_setup(RunSetup(cores=(last,)))
    argv = [sys.executable, "-c", SHOW_CORES]
    result = device.run(argv, timeout=60)
    assert result.stdout.strip() == f"[{last}]"
    assert device.take_trace(argv).cpus_allowed == str(last)
    device.use_setup(RunSetup())
    assert device.run(argv, timeout=60).stdout.strip() == str(sorted(os.sched_getaffinity(0)))


def test_a_core_this_process_may_not_use_is_one_line() -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(SetupError) as err:
        LocalDevice().check_setup(RunSetup(cores=(missing,)))
    assert f"may not run on core(s) [{missing}]" in str(err.value)


def test_energy_without_rapl_says_not_available(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rapl, "ROOT", tmp_path / "no-powercap")
    device = LocalDevice()
    (note,) = device.check_setup(RunSetup(energy=True))
    assert "not available" in note and "RAPL" in note
    device.use_setup(RunSetup(energy=True))
    argv = [sys.executable, "-c", "print(1)"]
    device.run(argv, timeout=60)
    energy = device.take_trace(argv).energy
    assert energy.joules is None and energy.problem.startswith("not available")


def test_rapl_counters_give_joules_across_a_wrap(tmp_path: Path) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("1000000\n")
    (zone / "energy_uj").write_text("900000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone (core): already counted in the package
    found = rapl.zones(tmp_path)
    assert [z.name for z in found] == ["package-0"]
    first = rapl.read(found)
    (zone / "energy_uj").write_text("400000\n")  # wrapped past 1 J
    trace = rapl.trace(found, first, rapl.read(found))
    assert trace.joules == pytest.approx(0.5) and trace.rails == {"package-0": pytest.approx(0.5)}
