"""The cooldown visibly waits on a loopback phone whose temperature falls over time."""

from __future__ import annotations

import sys

import pluggy
import pytest

from pocketbench.core.api.hooks import PROJECT, hookimpl
from pocketbench.core.api.model import Job, Prepared, RunRecord
from pocketbench.core.devices import open_device
from pocketbench.core.engine import hookspecs
from pocketbench.core.engine.hygiene import Hygiene
from pocketbench.testing.phone.adbd import Fixture, falling

pytestmark = pytest.mark.adb


class Core:
    @hookimpl
    def pocketbench_execute(self, job, device, prepared, index, warmup):
        result = device.run([sys.executable, "-c", "print('ran')"], timeout=30)
        return RunRecord(index=index, warmup=warmup, result=result)


def test_cooldown_waits_for_the_phone_to_cool(attach):
    # Read 1 (job start) 31 °C, read 2 (after run 1) 46 °C, then 46, 43, ... down to 31.
    thermal = falling(46.0, 31.0, 3.0, first=[31.0, 46.0])
    battery = {"level": 64, "temperature": 250, "status": 3, "USB powered": "false"}
    phone = attach(Fixture(thermal=thermal, battery=battery))
    device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    waits: list[float] = []
    notices: list[str] = []
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Core(), name="core")
    pm.register(
        Hygiene("auto", delta=2.0, poll=10.0, max_wait=300, sleep=waits.append, echo=notices.append)
    )
    job = Job(backend="b", quant="q", model="m", device=device.name)
    records = [
        pm.hook.pocketbench_execute(
            job=job, device=device, prepared=Prepared(), index=i, warmup=False
        )
        for i in range(2)
    ]
    assert all(r.result.stdout == "ran\n" for r in records)
    # 46 -> 43 -> 40 -> 37 -> 34 -> 31: five waits of 10 s before run 2.
    assert waits == [10.0] * 5
    assert records[1].before.max_temperature() == 31.0
    assert records[0].after.max_temperature() == 46.0
    assert any("waiting until it is within 2 °C of 31.0 °C" in n for n in notices)
    assert any("run 1 heated the device by 15.0 °C" in n for n in notices)
    assert records[0].before.battery_level == 64 and records[0].before.charging is False
    assert (
        thermal.reads == 9
    )  # start, after run 1, six while cooling (the last is run 2's start), after run 2
