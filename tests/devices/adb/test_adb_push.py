"""Pushing files to the loopback phone through the real adb server."""

from __future__ import annotations

import os
from pathlib import Path

import adbutils
import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.devices import open_device
from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.wait import wait_until

pytestmark = pytest.mark.adb


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "model.gguf"
    path.parent.mkdir()
    path.write_bytes(os.urandom(1_500_000))
    return path


def test_push_with_progress_then_a_second_push_sends_nothing(device, phone, model):
    seen: list[tuple[int, int]] = []
    remote = device.push(model, progress=lambda done, total: seen.append((done, total)))
    assert remote == "/data/local/tmp/pocketbench/model.gguf"
    landed = phone.daemon.sandbox / "pocketbench" / "model.gguf"
    assert landed.read_bytes() == model.read_bytes()
    assert phone.daemon.bytes_received == model.stat().st_size
    assert seen[-1] == (model.stat().st_size, model.stat().st_size) and len(seen) > 2

    assert device.push(model) == remote
    assert phone.daemon.bytes_received == model.stat().st_size  # nothing more went over the wire
    # A fresh connection to the device (a new bench process) knows it too.
    again = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    assert again.push(model) == remote
    assert phone.daemon.bytes_received == model.stat().st_size


def test_same_size_different_bytes_is_sent_again(device, phone, model):
    remote = device.push(model)
    landed = phone.daemon.sandbox / "pocketbench" / "model.gguf"
    st = landed.stat()
    landed.write_bytes(os.urandom(st.st_size))  # someone changed it on the phone
    os.utime(landed, (st.st_mtime + 5, st.st_mtime + 5))
    assert device.push(model) == remote
    assert landed.read_bytes() == model.read_bytes()
    assert phone.daemon.bytes_received == 2 * model.stat().st_size


def test_a_device_without_sha256sum_is_compared_by_md5(attach, model):
    phone = attach(Fixture(missing_tools=("sha256sum",)))
    device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    device.push(model)
    landed = phone.daemon.sandbox / "pocketbench" / "model.gguf"
    st = landed.stat()
    os.utime(landed, (st.st_mtime + 5, st.st_mtime + 5))  # unknown to the digest cache
    device.push(model)
    assert phone.daemon.bytes_received == model.stat().st_size
    assert any("md5sum" in c for c in phone.daemon.commands)


@pytest.mark.parametrize("name", ["../../x", "/etc/x", "a/../../x", "./../x"])
def test_a_name_cannot_escape_the_working_directory(device, phone, model, name):
    remote = device.push(model, name)
    assert remote.startswith("/data/local/tmp/pocketbench/")
    assert ".." not in remote.split("/")
    inside = (
        phone.daemon.sandbox / "pocketbench" / remote.removeprefix("/data/local/tmp/pocketbench/")
    )
    assert inside.read_bytes() == model.read_bytes()
    stray = [p for p in phone.daemon.root.rglob("x") if "pocketbench" not in p.parts]
    assert stray == []


def test_nested_names_make_directories(device, phone, model):
    remote = device.push(model, "models/tiny/model.gguf")
    assert remote == "/data/local/tmp/pocketbench/models/tiny/model.gguf"
    assert (phone.daemon.sandbox / "pocketbench/models/tiny/model.gguf").is_file()


def test_executables_stay_executable(device, tmp_path):
    tool = tmp_path / "tool.sh"
    tool.write_text('#!/bin/sh\necho tool ran with "$1"\n')
    tool.chmod(0o755)
    remote = device.push(tool)
    assert device.run([remote, "a b"], timeout=30).stdout == "tool ran with a b\n"


def test_a_full_device_refuses_the_push_with_one_clear_line(attach, tmp_path):
    phone = attach(Fixture(free_bytes=200_000))
    device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40_000_000))
    with pytest.raises(SetupError) as info:
        device.push(big)
    message = str(info.value)
    assert "No space left on device" in message and "free space" in message
    assert "\n" not in message
    # The device drops the partial file once it sees the push end (asynchronously).
    partial = phone.daemon.sandbox / "pocketbench" / "big.bin"
    assert wait_until(lambda: not partial.exists())
    # It stopped sending soon after the refusal instead of streaming all 40 MB.
    assert phone.daemon.bytes_received < 30_000_000
    small = tmp_path / "small.bin"
    small.write_bytes(b"fits")
    assert device.push(small).endswith("/small.bin")  # the device is still usable


def test_a_missing_local_file_is_a_setup_error(device, tmp_path):
    with pytest.raises(SetupError, match="no such file"):
        device.push(tmp_path / "nope.gguf")


def test_the_daemon_refuses_writes_outside_its_sandbox(phone):
    dev = adbutils.AdbClient(port=phone.server_port).device(phone.serial)
    with pytest.raises(adbutils.AdbError):
        dev.sync.push(b"x", "/data/local/elsewhere")
    with pytest.raises(adbutils.AdbError):
        dev.sync.push(b"x", "/data/local/tmp/../escape")
    assert not (phone.daemon.root / "escape").exists()
