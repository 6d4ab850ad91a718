"""The bandwidth probe on a phone: built static, pushed and run through the real adb server.

The loopback phone runs host binaries, so the probe is built with the host's
compiler (static, as for a phone: a phone's libc is not ours); a phone of
another architecture needs the cross toolchain (tests/bandwidth/test_probe.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.testing.cli import run_bench

pytestmark = pytest.mark.adb


def test_the_probe_is_pushed_run_and_cached_per_phone(device, phone, tmp_path: Path) -> None:  # noqa: ANN001
    lines: list[str] = []
    policy = BandwidthPolicy(cache=tmp_path / "bw", echo=lines.append, buffer_mib=8, trials=3)
    notes: list[str] = []
    measured = policy.device_bandwidth(device, 2, notes)
    assert notes == [] and measured is not None
    assert measured.threads == 2 and "-static" in measured.toolchain
    assert min(measured.read) > 0
    (pushed,) = phone.daemon.sandbox.rglob("bwprobe-*")
    assert os.access(pushed, os.X_OK)
    sent = phone.daemon.bytes_received
    again = policy.device_bandwidth(device, 2, [])
    assert again is not None and again.cached
    assert phone.daemon.bytes_received - sent < 4096, "the cached figure ran the probe again"


@pytest.mark.slow
def test_bench_on_the_phone_reports_its_bandwidth(attach, server, tmp_path: Path) -> None:  # noqa: ANN001
    from pocketbench.backends.llamacpp import build

    phone = attach()
    r = run_bench(
        "run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
        "--device", f"adb:{phone.serial}", "--llamacpp-bin", str(build.ensure_built()),
        "--runs", "2", "--warmup", "0", "--prompt-tokens", "16", "--gen-tokens", "8",
        "--cooldown", "off", cwd=tmp_path, ANDROID_ADB_SERVER_PORT=str(server.port),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"measuring the memory bandwidth of adb:{phone.serial}" in r.stderr
    report = run_bench("report", "--format", "json", cwd=tmp_path)
    (config,) = json.loads(report.stdout)["configurations"]
    b = config["bandwidth"]
    assert b["device_gbps"] > 0 and b["mbu"]["mean"] > 0 and b["bytes_per_token"] > 0
    assert "-static" in b["probe"]["toolchain"]
