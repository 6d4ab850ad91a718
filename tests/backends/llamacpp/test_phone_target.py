"""The phone's own facts choose the cross-build; a binary's header says where it runs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pocketbench.backends.llamacpp.crosstarget import cpu_features, target_for
from pocketbench.core.api.errors import ExitCode, SetupError
from pocketbench.core.devices.execcheck import mount_of
from pocketbench.plugin import check_executable_abi, read_elf
from pocketbench.testing.phone.arm64 import CPUINFO


def test_a_galaxy_a25_class_phone_gets_dotprod_and_fp16_but_not_i8mm():
    t = target_for("arm64-v8a", cpu_features(CPUINFO), device="phone")
    assert t.triple == "aarch64-linux-musl"
    assert t.march == "armv8.2-a+dotprod+fp16"
    assert t.mcpu == "generic+dotprod+fullfp16"


def test_a_newer_core_adds_i8mm_and_an_old_one_gets_plain_armv8():
    newer = cpu_features(CPUINFO.replace("asimddp", "asimddp i8mm bf16"))
    assert target_for("arm64-v8a", newer, device="p").march == "armv8.2-a+dotprod+fp16+i8mm"
    old = frozenset({"fp", "asimd", "aes"})
    assert target_for("arm64-v8a", old, device="p").march == "armv8-a"


def test_features_that_change_no_kernel_share_one_build():
    a = target_for("arm64-v8a", cpu_features(CPUINFO), device="p")
    b = target_for("arm64-v8a", cpu_features(CPUINFO.replace("sha2", "sha2 sha3 sm4")), device="p")
    assert a == b


def test_an_x86_64_emulator_gets_its_instruction_sets_as_ggml_options():
    t = target_for("x86_64", frozenset({"sse4_2", "avx", "avx2", "fma"}), device="emu")
    assert t.triple == "x86_64-linux-musl"
    assert "-DGGML_AVX2=ON" in t.cmake and "-DGGML_F16C=OFF" in t.cmake


@pytest.mark.parametrize("abi", ["armeabi-v7a", "x86", "riscv64", ""])
def test_bad_input_an_unsupported_abi_is_one_line_pointing_to_llamacpp_bin(abi):
    with pytest.raises(SetupError) as info:
        target_for(abi, frozenset(), device="adb:R58")
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == ExitCode.SETUP
    assert "adb:R58" in message and "--llamacpp-bin" in message
    assert (abi or "unknown ABI") in message


def test_bad_input_a_host_binary_for_an_arm64_phone_names_both_processors():
    host = Path(sys.executable).resolve()
    assert read_elf(host) is not None
    with pytest.raises(SetupError) as info:
        check_executable_abi(host, "arm64-v8a", device="adb:R58", option="--llamacpp-bin")
    message = str(info.value)
    assert "--llamacpp-bin" in message and "arm64-v8a" in message and "adb:R58" in message
    assert read_elf(host).machine_name in message  # what the file really is
    # the same file for a phone of its own kind passes
    check_executable_abi(host, _host_abi(), device="d", option="o")


def test_scripts_and_unknown_abis_are_left_to_the_device(tmp_path):
    script = tmp_path / "llama-completion"
    script.write_text("#!/bin/sh\necho hi\n")
    check_executable_abi(script, "arm64-v8a", device="d", option="--llamacpp-bin")
    check_executable_abi(Path(shutil.which("sh")), "mips64", device="d", option="o")


def test_the_mount_holding_a_path_is_the_longest_prefix():
    mounts = (
        "/dev/root / ext4 ro 0 0\n"
        "/dev/block/dm-45 /data f2fs rw,nosuid,nodev,noexec 0 0\n"
        "tmpfs /data/local/tmp/x tmpfs rw 0 0\n"
    )
    point, opts = mount_of("/data/local/tmp/pocketbench/bin/llama-completion", mounts)
    assert point == "/data" and "noexec" in opts
    assert mount_of("/data/local/tmp/x/a", mounts)[0] == "/data/local/tmp/x"
    assert mount_of("/database/a", mounts)[0] == "/"


def _host_abi() -> str:
    import platform

    return {"x86_64": "x86_64", "aarch64": "arm64-v8a"}.get(platform.machine(), platform.machine())
