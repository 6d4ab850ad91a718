"""Plug in and run: `bench` builds llama.cpp for an arm64 phone itself and runs it there.

The loopback phone in arm64 mode reports ABI arm64-v8a and an Exynos 1280's
/proc/cpuinfo; pocketbench cross-builds the pinned llama.cpp with zig for
that phone, pushes the aarch64 executables through Debian's adb server, and
the phone runs them (through qemu user-mode emulation, as binfmt_misc hands
every aarch64 executable to it).  Emulated speed means nothing: the tests
assert behaviour, never figures.
"""

from __future__ import annotations

import shlex

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.plugin import read_elf
from pocketbench.testing.cli import run_bench
from pocketbench.testing.phone.arm64 import arm64_fixture

# The first run of the suite cross-builds llama.cpp inside this test (10-20 min on 2 cores).
pytestmark = [pytest.mark.adb, pytest.mark.slow, pytest.mark.timeout(3600)]


def phone_args(serial: str, quant: str, *extra: str) -> tuple[str, ...]:
    return (
        "--backend", "llamacpp", "--quant", quant, "--model", "tiny",
        "--device", f"adb:{serial}", "--runs", "2", "--warmup", "1",
        "--prompt-tokens", "16", "--gen-tokens", "8", "--cooldown", "off", *extra,
    )  # fmt: skip


def test_an_arm64_phone_runs_llamacpp_built_for_it_without_llamacpp_bin(
    attach, server, tmp_path, arm64_tools
) -> None:
    from pocketbench.backends.llamacpp import build

    phone = attach(arm64_fixture())
    env = {"ANDROID_ADB_SERVER_PORT": str(server.port)}
    for quant in ("q4_0", "q4_k_m"):
        r = run_bench(*phone_args(phone.serial, quant), cwd=tmp_path, timeout=1800, **env)
        assert r.returncode == 0, r.stderr[-2000:]
    with Store.open(tmp_path / "pocketbench.db") as s:
        configs = {c.quant: c for c in configurations(s)}
    assert set(configs) == {"q4_0", "q4_k_m"}
    for c in configs.values():
        assert c.facts is not None and c.facts.abi == "arm64-v8a"
        assert len(c.ok_runs) == 2
        assert all(r.metrics.gen_tokens == 8 and r.metrics.generation_tps > 0 for r in c.ok_runs)
        # what ran is pocketbench's own aarch64 build, recorded with how it was made
        d = c.describe
        assert d["target_triple"] == "aarch64-linux-musl"
        assert d["target_march"] == "armv8.2-a+dotprod+fp16"
        assert d["toolchain"].startswith("zig ") and d["source_commit"] == build.LLAMACPP_COMMIT
        runner = shlex.split(d["argv"])[0]
        on_phone = phone.daemon.sandbox / runner.removeprefix("/data/local/tmp/")
        assert read_elf(on_phone).machine == 183  # EM_AARCH64
    report = run_bench("report", "--format", "markdown", cwd=tmp_path)
    assert report.returncode == 0 and "aarch64-linux-musl" in report.stdout

    # A phone that refuses to execute: one line saying why; what is stored stays.
    refusing = attach(arm64_fixture(exec_refusal="noexec"))
    r = run_bench(*phone_args(refusing.serial, "q4_0"), cwd=tmp_path, **env)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 3 and len(errors) == 1 and "noexec" in errors[0], r.stderr
    with Store.open(tmp_path / "pocketbench.db") as s:
        kept = {
            c.quant: len(c.ok_runs) for c in configurations(s) if c.device.endswith(phone.serial)
        }
    assert kept == {"q4_0": 2, "q4_k_m": 2}
