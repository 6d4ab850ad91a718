"""An AdbDevice through Debian's adb server and the loopback phone: facts, readings, runs."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from pocketbench.core.devices import open_device
from pocketbench.core.devices.adb import AdbDevice
from pocketbench.testing.wait import wait_until

pytestmark = pytest.mark.adb

NASTY = "\"; rm -rf /; $(reboot) `reboot` 'q' \\ $HOME *\n\tline2 ünï €"
ECHO_ARGV = "import sys, json; print(json.dumps(sys.argv[1:]))"


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not any(
        line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines()
    )


def test_opens_by_serial_and_reads_facts(device, phone):
    assert device.name == f"adb:{phone.serial}"
    facts = device.facts()
    assert facts.kind == "adb"
    assert facts.model == "Loopback A25"
    assert facts.manufacturer == "Pocketbench"
    assert facts.soc == "Pocketbench LB1280"
    assert facts.abi in ("x86_64", "arm64-v8a")
    assert facts.os == "Android 14 (API 34)"
    assert facts.cores == os.cpu_count()
    assert facts.ram_bytes > 100 * 2**20
    assert facts.extra["serial"] == phone.serial


def test_the_only_device_and_the_url_form(phone):
    only = open_device("adb", adb_port=phone.server_port)
    assert only.serial == phone.serial
    remote = open_device(f"adb://127.0.0.1:{phone.server_port}/{phone.serial}")
    assert remote.name == f"adb://127.0.0.1:{phone.server_port}/{phone.serial}"
    assert remote.facts().model == "Loopback A25"


def test_server_port_from_the_environment(phone, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(phone.server_port))
    assert open_device(f"adb:{phone.serial}").serial == phone.serial


def test_readings_in_one_round_trip(device, phone):
    before = len(phone.daemon.commands)
    r = device.readings()
    assert len(phone.daemon.commands) == before + 1
    assert r.temperatures_c["thermal_zone0:cpu-0"] == 35.0
    assert r.temperatures_c["battery"] == pytest.approx(31.2)
    assert r.battery_level == 81
    assert r.charging is True
    assert r.free_mem_bytes and r.free_mem_bytes > 0
    assert r.max_temperature() == 35.0


def test_exit_codes_and_separate_streams(device):
    r = device.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert (r.stdout, r.stderr, r.exit_code, r.timed_out) == ("out\n", "err\n", 3, False)
    assert device.run(["true"], timeout=30).ok
    missing = device.run(["/no/such/program"], timeout=30)
    assert missing.exit_code == 127 and not missing.ok


def test_a_hostile_argument_arrives_as_one_byte_identical_argv_element(device, phone):
    r = device.run([sys.executable, "-c", ECHO_ARGV, NASTY, "", "two words"], timeout=30)
    import json

    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == [NASTY, "", "two words"]
    r = device.run(["printf", "%s", NASTY], timeout=30)
    assert r.stdout == NASTY
    # The shell line sent to the device quotes it: no unquoted $( or backtick reached sh.
    sent = phone.daemon.commands[-1]
    assert "'\"; rm -rf /; $(reboot) `reboot` '\"'\"'q'\"'\"'" in sent


def test_environment_and_working_directory(device, phone):
    r = device.run(
        ["sh", "-c", 'printf %s "$GREETING"; echo; pwd'],
        timeout=30,
        env={"GREETING": "it's $(not) run"},
        cwd="sub",
    )
    assert r.exit_code == 125  # the cwd does not exist yet
    (phone.daemon.sandbox / "pocketbench" / "sub").mkdir()
    r = device.run(
        ["sh", "-c", 'printf %s "$GREETING"; echo; pwd'],
        timeout=30,
        env={"GREETING": "it's $(not) run"},
        cwd="sub",
    )
    out = r.stdout.splitlines()
    assert out[0] == "it's $(not) run"
    assert out[1].endswith("pocketbench/sub")
    with pytest.raises(ValueError):
        device.run(["true"], timeout=5, env={"BAD NAME": "x"})


def test_a_run_past_its_timeout_is_killed_on_the_device(device, phone):
    script = "sleep 300 & echo $! > grandchild.pid; echo started; wait"
    r = device.run(["sh", "-c", script], timeout=2)
    assert r.timed_out and r.exit_code is None and not r.ok
    assert r.stdout == "started\n"
    pid = int((phone.daemon.sandbox / "pocketbench" / "grandchild.pid").read_text())
    assert not alive(pid), "the backgrounded child of a timed-out run survived"
    assert r.wall_s < 30
    # Nothing of the wrapper is left behind in the working directory.
    assert not list((phone.daemon.sandbox / "pocketbench").glob(".run-*"))


def test_peak_memory_is_reported(device):
    r = device.run(
        [sys.executable, "-c", "import time; b = bytearray(80 * 2**20); time.sleep(1)"], timeout=60
    )
    assert r.exit_code == 0, r.stderr
    assert r.peak_rss_bytes is not None and r.peak_rss_bytes > 80 * 2**20
    assert "__pocketbench" not in r.stderr


def test_large_output_is_streamed(device):
    r = device.run(
        ["sh", "-c", "head -c 8000000 /dev/zero | tr '\\0' x; echo done >&2"], timeout=120
    )
    assert len(r.stdout) == 8_000_000 and r.stderr == "done\n"


def test_several_runs_at_once_on_one_device(device):
    results: list = []

    def go(n: int) -> None:
        results.append(device.run(["sh", "-c", f"sleep 0.3; echo {n}"], timeout=30))

    threads = [threading.Thread(target=go, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.stdout for r in results) == ["0\n", "1\n", "2\n"]


def test_adbdevice_is_a_device():
    from pocketbench.core.devices.base import Device

    assert issubclass(AdbDevice, Device) and not AdbDevice.is_local


def test_an_argument_too_long_for_one_adb_request_travels_as_a_file(device, phone):
    prompt = "wörd $(x) " * 15_000 + "\n\n"  # 150 kB of prompt text, trailing newlines too
    r = device.run(["printf", "%s", prompt], timeout=60)
    assert r.stdout == prompt and r.exit_code == 0
    assert not list((phone.daemon.sandbox / "pocketbench").glob(".arg-*"))


def test_without_rss_sampling(phone):
    dev = AdbDevice(phone.serial, port=phone.server_port, rss_poll_s=0)
    r = dev.run(["sh", "-c", "exit 9"], timeout=30)
    assert r.exit_code == 9 and r.peak_rss_bytes is None and r.stderr == ""


def test_ctrl_c_stops_the_run_on_the_device(device, phone):
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            device.run(["sh", "-c", "sleep 300 & echo $! > ctrlc.pid; wait"], timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pid = int((phone.daemon.sandbox / "pocketbench" / "ctrlc.pid").read_text())
    assert wait_until(lambda: not alive(pid)), "the run kept going on the device after Ctrl-C"
