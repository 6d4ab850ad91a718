"""The hygiene wrapper with a scripted device: cooldown, readings, heat warnings."""

from __future__ import annotations

from collections.abc import Iterator

import pluggy
import pytest

from pocketbench.core.api.errors import DeviceError, UsageError
from pocketbench.core.api.hooks import PROJECT, hookimpl
from pocketbench.core.api.model import Job, Prepared, ProcessResult, Readings, RunRecord
from pocketbench.core.devices.base import Device
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine import hookspecs
from pocketbench.core.engine.hygiene import Hygiene, parse_cooldown


class ScriptedDevice(Device):
    """Readings from a list of temperatures (the last repeats); ``None`` means unreadable."""

    name = "scripted"

    def __init__(self, temps: list[float | None], fail_after: int | None = None) -> None:
        self.temps = temps
        self.reads = 0
        self.fail_after = fail_after

    def readings(self) -> Readings:
        if self.fail_after is not None and self.reads >= self.fail_after:
            raise DeviceError("scripted went offline while reading temperatures")
        t = self.temps[min(self.reads, len(self.temps) - 1)]
        self.reads += 1
        return Readings(time=float(self.reads), temperatures_c={} if t is None else {"cpu": t})

    def facts(self):  # pragma: no cover - not used
        raise NotImplementedError

    def push(self, local, name=None, progress=None):  # pragma: no cover
        raise NotImplementedError

    def run(self, argv, *, timeout, env=None, cwd=None):  # pragma: no cover
        raise NotImplementedError


class Core:
    """Stands in for the core's own ``pocketbench_execute``."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def pocketbench_execute(self, job, device, prepared, index, warmup):
        self.calls += 1
        result = ProcessResult(argv=("x",), stdout="", stderr="", exit_code=0, wall_s=0.1)
        return RunRecord(index=index, warmup=warmup, result=result)


@pytest.fixture
def manager() -> Iterator[pluggy.PluginManager]:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Core(), name="core")
    yield pm


class Waits:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def execute(pm, device, n: int, job: Job | None = None) -> list[RunRecord]:
    job = job or Job(backend="b", quant="q", model="m", device=device.name)
    return [
        pm.hook.pocketbench_execute(
            job=job, device=device, prepared=Prepared(), index=i, warmup=False
        )
        for i in range(n)
    ]


def test_auto_waits_until_back_near_the_starting_temperature(manager):
    waits, said = Waits(), []
    manager.register(
        Hygiene("auto", delta=2.0, poll=5.0, max_wait=100, sleep=waits, echo=said.append)
    )
    # start 30; after run 1: 44; before run 2 it reads 44, 40, 36, 31.5 -> within 2 of 30.
    device = ScriptedDevice([30, 44, 44, 40, 36, 31.5, 45, 31])
    first, second = execute(manager, device, 2)
    assert waits.calls == [5.0, 5.0, 5.0]
    assert first.before.max_temperature() == 30 and first.after.max_temperature() == 44
    assert second.before.max_temperature() == 31.5 and second.after.max_temperature() == 45
    # Run 1 heated it by 14 °C (warned), the cooldown said it waits, run 2 heated it again.
    assert len(said) == 3
    assert "run 1 heated the device by 14.0 °C" in said[0]
    assert "waiting until it is within 2 °C of 30.0 °C" in said[1]
    assert "run 2 heated" in said[2]


def test_auto_gives_up_after_max_wait(manager):
    waits, said = Waits(), []
    manager.register(
        Hygiene("auto", poll=4.0, max_wait=10, warn_rise=99, sleep=waits, echo=said.append)
    )
    execute(manager, ScriptedDevice([30, 50]), 2)
    assert waits.calls == [4.0, 4.0, 2.0]
    assert "still at 50.0 °C after 10 s" in said[-1] and "running anyway" in said[-1]


def test_fixed_pause_and_off(manager):
    waits = Waits()
    hygiene = Hygiene(12, sleep=waits, echo=lambda m: None)
    manager.register(hygiene)
    records = execute(manager, ScriptedDevice([30]), 3)
    assert waits.calls == [12.0, 12.0]  # not before the job's first execution
    assert all(r.before and r.after for r in records)
    manager.unregister(hygiene)
    waits.calls.clear()
    manager.register(Hygiene("off", sleep=waits))
    execute(manager, ScriptedDevice([30, 80]), 3)
    assert waits.calls == []


def test_no_readable_temperature_never_waits(manager):
    waits = Waits()
    manager.register(Hygiene("auto", sleep=waits))
    records = execute(manager, ScriptedDevice([None]), 3)
    assert waits.calls == [] and all(r.before.max_temperature() is None for r in records)


def test_each_job_has_its_own_starting_temperature(manager):
    waits = Waits()
    manager.register(Hygiene("auto", poll=1, sleep=waits, echo=lambda m: None))
    device = ScriptedDevice([30, 30, 45, 45, 45])
    execute(manager, device, 1, Job(backend="b", quant="q", model="m", device="scripted"))
    # A new configuration starts hot: that is its baseline, nothing to wait for.
    execute(manager, device, 2, Job(backend="b", quant="q4", model="m", device="scripted"))
    assert waits.calls == []


def test_a_device_lost_after_the_run_keeps_the_record(manager):
    said = []
    manager.register(Hygiene("off", echo=said.append))
    (record,) = execute(manager, ScriptedDevice([30], fail_after=1), 1)
    assert record.result.exit_code == 0 and record.before is not None and record.after is None
    assert "offline" in said[0]


def test_on_the_local_device(manager):
    manager.register(Hygiene("auto", sleep=Waits()))
    (record,) = execute(manager, LocalDevice(), 1)
    assert record.before is not None and record.after is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", "auto"),
        ("OFF", "off"),
        ("30", 30.0),
        ("2.5s", 2.5),
        (0, "off"),
        (None, "off"),
        (7, 7.0),
    ],
)
def test_parse_cooldown(value, expected):
    assert parse_cooldown(value) == expected


@pytest.mark.parametrize("value", ["soon", "-3", -1])
def test_bad_cooldown(value):
    with pytest.raises(UsageError):
        Hygiene(value)
