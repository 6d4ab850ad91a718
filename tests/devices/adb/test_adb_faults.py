"""Missing, ambiguous, unauthorized, offline and vanishing devices: one clear line each."""

from __future__ import annotations

import threading
import time

import pytest

from pocketbench.core.api.errors import DeviceError, ExitCode
from pocketbench.core.devices import open_device
from pocketbench.core.devices.adb import NO_DEVICE, ensure_server
from pocketbench.testing.phone.adbd import Fixture

pytestmark = pytest.mark.adb


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    assert exc.value.exit_code == ExitCode.DEVICE
    return message


def test_no_device_attached(server):
    with pytest.raises(DeviceError) as info:
        open_device("adb", adb_port=server.port)
    assert one_line(info) == NO_DEVICE


def test_several_devices_and_no_serial(attach):
    a, b = attach(), attach()
    with pytest.raises(DeviceError) as info:
        open_device("adb", adb_port=a.server_port)
    message = one_line(info)
    assert "several devices" in message and a.serial in message and b.serial in message
    assert "adb:SERIAL" in message
    assert open_device(f"adb:{b.serial}", adb_port=b.server_port).serial == b.serial


def test_unknown_serial_says_how_to_attach_it(phone):
    with pytest.raises(DeviceError) as info:
        open_device("adb:127.0.0.1:1", adb_port=phone.server_port)
    message = one_line(info)
    assert (
        "'127.0.0.1:1'" in message
        and phone.serial in message
        and "adb connect 127.0.0.1:1" in message
    )


def test_unauthorized_device(attach):
    phone = attach(Fixture(mode="unauthorized"))
    for spec in (f"adb:{phone.serial}", "adb"):
        with pytest.raises(DeviceError) as info:
            open_device(spec, adb_port=phone.server_port)
        message = one_line(info)
        assert "unauthorized" in message and "Allow USB debugging" in message


def test_offline_device(attach):
    phone = attach(Fixture(mode="silent"))
    with pytest.raises(DeviceError) as info:
        open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    assert "is offline" in one_line(info)


def test_one_usable_among_broken_ones_is_the_only_device(attach):
    attach(Fixture(mode="unauthorized"))
    good = attach()
    assert open_device("adb", adb_port=good.server_port).serial == good.serial


def test_the_device_vanishing_mid_run(device, phone):
    threading.Timer(1.0, phone.daemon.kill).start()
    start = time.monotonic()
    with pytest.raises(DeviceError) as info:
        device.run(["sleep", "30"], timeout=60)
    message = one_line(info)
    assert phone.serial in message and "while running sleep" in message
    assert "offline" in message or "disconnected" in message
    assert time.monotonic() - start < 20
    # Whatever comes next says the same kind of thing instead of hanging.
    with pytest.raises(DeviceError):
        device.readings()


def test_the_adb_server_vanishing(device, phone):
    phone.server.run("kill-server")
    with pytest.raises(DeviceError) as info:
        device.readings()
    assert "adb server" in one_line(info)


def test_no_server_and_none_can_be_started(monkeypatch, tmp_path):
    from pocketbench.testing.phone.adbhost import free_port

    failing = tmp_path / "adb"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("ADB", str(failing))
    with pytest.raises(DeviceError) as info:
        ensure_server("127.0.0.1", free_port())
    assert "no adb server answers" in one_line(info)


def test_missing_program_adb_is_named_with_how_to_install_it(monkeypatch, tmp_path):
    """Neither $ADB nor PATH has adb: one line, and adbutils' bundled adb is never started."""
    from pocketbench.testing.phone.adbhost import free_port

    monkeypatch.delenv("ADB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError) as info:
        ensure_server("127.0.0.1", free_port())
    assert "no adb program found on PATH" in one_line(info)
    assert "apt-get install adb" in one_line(info)
    monkeypatch.setenv("ADB", str(tmp_path / "nothing"))
    with pytest.raises(DeviceError) as info:
        ensure_server("127.0.0.1", free_port())
    assert "is not an executable program" in one_line(info)


def test_describe_attached_lists_usable_and_broken_devices(attach):
    from pocketbench.core.devices.adb import describe_attached

    good = attach()
    bad = attach(Fixture(mode="unauthorized"))
    rows = {serial: (state, facts, problem) for serial, state, facts, problem in
            describe_attached(port=good.server_port)}  # fmt: skip
    assert rows[good.serial][1].model == "Loopback A25" and rows[good.serial][2] is None
    assert rows[bad.serial][0] == "unauthorized" and rows[bad.serial][1] is None
    assert "Allow USB debugging" in rows[bad.serial][2]
