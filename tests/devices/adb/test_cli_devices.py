"""`bench devices` lists the phones the adb server knows, with their facts."""

from __future__ import annotations

import json

import pytest

from pocketbench.testing.cli import run_bench
from pocketbench.testing.phone.adbd import Fixture


@pytest.mark.adb
def test_bench_devices_lists_the_loopback_phone_with_its_facts(attach, server, tmp_path) -> None:
    phone = attach()
    locked = attach(Fixture(mode="unauthorized"))
    r = run_bench("devices", "--json", cwd=tmp_path, ANDROID_ADB_SERVER_PORT=str(server.port))
    assert r.returncode == 0, r.stderr
    rows = {d["device"]: d for d in json.loads(r.stdout)["devices"]}
    assert rows["local"]["facts"]["kind"] == "local"
    mine = rows[f"adb:{phone.serial}"]
    assert mine["state"] == "device" and mine["facts"]["abi"] and mine["facts"]["cores"] > 0
    assert mine["facts"]["model"]
    bad = rows[f"adb:{locked.serial}"]
    assert bad["facts"] is None and "Allow USB debugging" in bad["problem"]
    text = run_bench("devices", cwd=tmp_path, ANDROID_ADB_SERVER_PORT=str(server.port))
    assert f"adb:{phone.serial}" in text.stdout and mine["facts"]["model"] in text.stdout
