"""Core frequencies, governor and thermal status with every run; throttling seen as a frequency drop."""

from __future__ import annotations

import json

import pytest

from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.phone.adbhardware import Hardware

from .test_phone_placement import TWO_CLUSTERS, bench, configs, run_args

pytestmark = pytest.mark.adb


def test_a_frequency_drop_flags_throttling_though_speed_held(attach, tmp_path) -> None:
    # Every run lowers the cores' clocks by 10%; the fake runtime's speed does not change.
    hardware = Hardware(max_freqs_khz=TWO_CLUSTERS, freq_drop_per_run=0.1, thermal_status=2)
    phone = attach(Fixture(hardware=hardware))
    db = tmp_path / "r.db"
    # No bandwidth probe: it is a process too, and would lower the fake clocks before run 1.
    code, said = bench(*run_args(phone, db, "--runs", "3", "--no-bandwidth"))
    assert code == 0, said
    (config,) = configs(db)
    before = [r.before.cur_freqs_khz for r in config.records]
    after = [r.after.cur_freqs_khz for r in config.records]
    assert before[0] == TWO_CLUSTERS and after[-1][1] < before[0][1]
    assert all(r.before.thermal_status == 2 for r in config.records)
    assert not config.throttling  # the speed trend alone would not have said it
    assert config.likely_throttling
    outputs = {f: tmp_path / f"r.{f}" for f in ("md", "json", "html")}
    for out in outputs.values():
        assert bench("report", "--db", str(db), "-o", str(out))[0] == 0
    md = outputs["md"].read_text()
    assert "Likely throttling: the cores' frequency went from 2100 MHz to" in md
    assert "Android thermal status: up to 2 (moderate)" in md
    assert "CPU frequency governor: schedutil" in md
    (c,) = json.loads(outputs["json"].read_text())["configurations"]
    assert c["likely_throttling"] is True and c["frequency"]["change_pct"] < -10
    assert c["energy"] is None and c["cores"] == []
    assert "likely throttling" in outputs["html"].read_text()
