"""Bad input on the way to a phone: one line that says what to do, before harm is done."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from pocketbench.core.api.errors import ExitCode, SetupError
from pocketbench.testing.cli import run_bench
from pocketbench.testing.phone.arm64 import arm64_fixture

pytestmark = pytest.mark.adb


def bench_on(phone, server, tmp_path: Path, *extra: str, quant: str = "q4_0", **env: str):
    args = (
        "--backend", "llamacpp", "--quant", quant, "--model", "tiny",
        "--device", f"adb:{phone.serial}", "--runs", "1", "--warmup", "0",
        "--prompt-tokens", "16", "--gen-tokens", "4", "--cooldown", "off", *extra,
    )  # fmt: skip
    return run_bench(*args, cwd=tmp_path, ANDROID_ADB_SERVER_PORT=str(server.port), **env)


def the_error(r) -> str:
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.returncode == ExitCode.SETUP, (r.returncode, r.stderr)
    return errors[0]


def test_a_phone_with_an_unsupported_abi(attach, server, tmp_path):
    phone = attach(arm64_fixture(props={"ro.product.cpu.abi": "armeabi-v7a"}))
    line = the_error(bench_on(phone, server, tmp_path))
    assert "armeabi-v7a" in line and "--llamacpp-bin" in line
    assert phone.daemon.bytes_received == 0


@pytest.mark.slow
def test_a_wrong_architecture_binary_is_refused_before_any_push(
    attach, server, tmp_path, host_build
):
    phone = attach(arm64_fixture())
    line = the_error(bench_on(phone, server, tmp_path, "--llamacpp-bin", host_build))
    assert "x86-64" in line and "arm64-v8a" in line and "--llamacpp-bin" in line
    assert phone.daemon.bytes_received == 0


def test_a_toolchain_that_fails_to_build_names_the_log(attach, server, tmp_path):
    from pocketbench.backends.llamacpp import build

    sdist = build.source_archive()  # the shared, pinned source
    zig = tmp_path / "zig"
    zig.write_text('#!/bin/sh\n[ "$1" = version ] && echo 0.0.0-broken && exit 0\n'
                   'echo "zig: broken on purpose" >&2; exit 1\n')  # fmt: skip
    zig.chmod(0o755)
    phone = attach(arm64_fixture())
    env = {
        "POCKETBENCH_ZIG": str(zig),
        "POCKETBENCH_CACHE": str(tmp_path / "cache"),
        "POCKETBENCH_LLAMACPP_SDIST": str(sdist),
    }
    # baseline: nothing to quantize, so the empty cache needs no host build of llama.cpp
    # (3 minutes) before the broken cross toolchain is reached
    line = the_error(bench_on(phone, server, tmp_path, quant="baseline", **env))
    log = Path(line.rsplit("see ", 1)[1].strip())
    assert log.is_file() and "broken on purpose" in log.read_text()
    assert not [p for p in (tmp_path / "cache" / "llamacpp-cross").iterdir() if p.is_dir()]
    assert phone.daemon.bytes_received == 0


def test_setup_failure_a_toolchain_that_cannot_be_installed(monkeypatch, tmp_path):
    from pocketbench.backends.llamacpp import crossbuild
    from pocketbench.plugin import ZIG_VERSION

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ziglang" else real(name, *a)
    )
    monkeypatch.delenv("POCKETBENCH_ZIG", raising=False)
    monkeypatch.setenv("POCKETBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # a registry that has no ziglang
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    with pytest.raises(SetupError) as info:
        crossbuild.find_toolchain()
    message = str(info.value)
    assert "\n" not in message and "ziglang==" in message and "--llamacpp-bin" in message
    assert not (tmp_path / "cache" / "toolchains" / f"ziglang-{ZIG_VERSION}").exists()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # builds the phone's tools when no earlier test did
def test_a_phone_running_out_of_storage_during_the_push(attach, server, tmp_path, arm64_tools):
    phone = attach(arm64_fixture(free_bytes=2_000_000))
    line = the_error(bench_on(phone, server, tmp_path))
    assert "No space left on device" in line and "free space" in line


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize(("refusal", "said"), [("noexec", "noexec"), ("selinux", "SELinux")])
def test_a_phone_that_refuses_to_execute_says_which_rule(
    attach, server, tmp_path, arm64_tools, refusal, said
):
    phone = attach(arm64_fixture(exec_refusal=refusal))
    line = the_error(bench_on(phone, server, tmp_path))
    assert said in line and "refuses to execute" in line
    assert ("noexec" in line) == (refusal == "noexec")
    assert os.path.basename(line.split(" refuses to execute ")[1].split(":")[0]) in (
        "llama-completion",
    )
