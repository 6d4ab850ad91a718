"""The bandwidth probe on a phone: built static, pushed and run through the real adb server.

The loopback phone says it is an x86_64 phone: the probe is built with zig
for it, static (a phone's libc is not ours).  In arm64 mode it is built with
the zig, target and CPU flags of the phone's llama.cpp cross-build, pushed
into the tools' folder, and runs as aarch64 code (qemu-user via binfmt_misc).
"""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path

import pytest

from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.testing.cli import run_bench

pytestmark = pytest.mark.adb


def test_the_probe_is_pushed_run_and_cached_per_phone(device, phone, tmp_path: Path) -> None:  # noqa: ANN001
    lines: list[str] = []
    # The cache is what is judged here, not how busy the shared host is.
    policy = BandwidthPolicy(
        cache=tmp_path / "bw", echo=lines.append, buffer_mib=8, trials=3,
        busy_others_cores=math.inf, busy_load_per_core=math.inf,
    )  # fmt: skip
    notes: list[str] = []
    measured = policy.device_bandwidth(device, 2, notes)
    assert notes == [] and measured is not None
    assert measured.threads == 2 and "-static" in measured.toolchain
    assert min(measured.read) > 0
    # The phone says its own last-level cache and how busy it was (the probe reads them there).
    assert measured.llc_bytes > 0 and measured.others_cores is not None
    assert measured.load_avg is not None
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


@pytest.mark.slow
@pytest.mark.timeout(3600)  # cross-builds llama.cpp for the phone when no earlier test did
def test_an_arm64_phone_runs_the_probe_built_like_its_llamacpp_tools_beside_them(
    attach, server, tmp_path: Path, arm64_tools
) -> None:  # noqa: ANN001
    from pocketbench.plugin import read_elf
    from pocketbench.testing.phone.adbhardware import Hardware
    from pocketbench.testing.phone.arm64 import arm64_fixture

    # Two clusters this host can really pin: core 0 little, core 1 big.
    phone = attach(arm64_fixture(hardware=Hardware(max_freqs_khz=(1_800_000, 2_400_000))))
    env = {"ANDROID_ADB_SERVER_PORT": str(server.port)}

    def bench(campaign: str) -> str:
        r = run_bench(
            "run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
            "--device", f"adb:{phone.serial}", "--cores", "big", "--campaign", campaign,
            "--runs", "1", "--warmup", "0", "--prompt-tokens", "16", "--gen-tokens", "8",
            "--cooldown", "off", cwd=tmp_path, timeout=1800, **env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stderr

    said = bench("first")
    assert f"measuring the memory bandwidth of adb:{phone.serial} (1 thread on big" in said
    report = run_bench("report", "--format", "json", "--campaign", "first", cwd=tmp_path)
    (config,) = json.loads(report.stdout)["configurations"]
    b = config["bandwidth"]
    assert b["device_gbps"] > 0 and b["mbu"]["mean"] > 0 and b["bytes_per_token"] > 0
    # Built by the zig that built the phone's llama.cpp (its version: a cached build is
    # keyed by it, not by where zig lives), for the same target and CPU.
    d = config["describe"]
    zig_version = d["toolchain"].split(" (")[0]
    assert zig_version.startswith("zig ") and zig_version in b["probe"]["toolchain"]
    assert f"{d['target_triple']} -mcpu={d['target_mcpu']}" in b["probe"]["toolchain"]
    assert b["probe"]["cpus"] == [1] and b["probe"]["placement"]["asked"] == "big"
    # An aarch64 executable, pushed into the folder the tools run from.
    (pushed,) = phone.daemon.sandbox.rglob("bwprobe-*")
    assert read_elf(pushed).machine == 183  # EM_AARCH64
    runner = shlex.split(d["argv"])[0].removeprefix("/data/local/tmp/")
    assert pushed.parent == (phone.daemon.sandbox / runner).parent
    # A new campaign on the same phone and cores never reuses the first figure: it was
    # taken before this campaign began (or on a busy device: the emulator and this
    # host's other processes can make it so); it is measured again and says why.
    said = bench("second")
    again = run_bench("report", "--format", "json", "--campaign", "second", cwd=tmp_path)
    (config,) = json.loads(again.stdout)["configurations"]
    assert "measuring the memory bandwidth" in said
    assert (
        "was taken on a busy device" in said
        or "was taken before this campaign or study began" in said
    ), said
    assert config["bandwidth"]["probe"]["cached"] is False
