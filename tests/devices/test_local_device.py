"""The local device: wall-clock timeouts, exit codes, signals, peak RSS, facts."""

from __future__ import annotations

import os
import signal
import sys
import time

from pocketbench.core.devices.local import LocalDevice
from pocketbench.testing.wait import process_gone, wait_until

PY = sys.executable


def test_exit_code_and_separate_streams() -> None:
    r = LocalDevice().run(
        [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
        timeout=30,
    )
    assert r.exit_code == 3 and r.stdout == "out\n" and r.stderr == "err\n" and not r.timed_out


def test_killed_by_signal_is_negative_exit_code() -> None:
    r = LocalDevice().run(
        [PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], timeout=30
    )
    assert r.exit_code == -signal.SIGSEGV


def test_timeout_kills_the_run_and_its_children(tmp_path) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    r = LocalDevice().run([PY, "-c", script], timeout=2)
    assert r.timed_out and r.exit_code is None
    assert time.monotonic() - start < 30
    assert "started" in r.stdout  # output up to the timeout is kept
    child = int(pidfile.read_text())
    assert wait_until(lambda: process_gone(child), timeout=5), "the runtime's child survived"


def test_peak_rss_of_the_child_not_of_us() -> None:
    r = LocalDevice().run(
        [PY, "-c", "b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"],
        timeout=60,
    )
    assert r.exit_code == 0
    assert r.peak_rss_bytes is not None and r.peak_rss_bytes > 300 * 1024 * 1024
    small = LocalDevice().run([PY, "-c", "pass"], timeout=60)
    assert small.peak_rss_bytes < 200 * 1024 * 1024


def test_arguments_are_data_not_shell() -> None:
    nasty = "\"; rm -rf /; $(reboot) `id` 'quoted' \\ & | > x"
    r = LocalDevice().run(
        [PY, "-c", "import sys; sys.stdout.write(sys.argv[1])", nasty], timeout=30
    )
    assert r.stdout == nasty


def test_missing_program_is_a_result_not_a_crash() -> None:
    r = LocalDevice().run(["/nonexistent/llama-completion", "-m", "x"], timeout=5)
    assert r.exit_code == 127 and "cannot start" in r.stderr


def test_facts_and_readings_describe_this_host() -> None:
    d = LocalDevice()
    f = d.facts()
    assert f.kind == "local" and f.cores == os.cpu_count() and f.ram_bytes > 0 and f.soc
    r = d.readings()
    assert r.free_mem_bytes and r.load_avg is not None


def test_stdout_passes_through_the_launcher_unchanged_and_each_piece_is_timed() -> None:
    from pocketbench.core.devices.base import RunSetup

    # Bytes that are not UTF-8 and a piece larger than one read of the pipe.
    script = (
        "import os; os.write(1, b'\\xff\\xfe tok'); os.write(1, b'x' * 200000);"
        " os.write(1, b'end\\n')"
    )
    device = LocalDevice()
    timed = device.run([sys.executable, "-c", script], timeout=60)
    assert timed.ok and timed.stdout == "\ufffd\ufffd tok" + "x" * 200000 + "end\n"
    assert timed.arrivals is not None and len(timed.arrivals) >= 3
    times = [t for t, _ in timed.arrivals]
    ends = [end for _, end in timed.arrivals]
    assert times == sorted(times) and ends == sorted(ends)
    assert ends[-1] == 6 + 200000 + 4  # raw bytes, counted before decoding
    device.use_setup(RunSetup(token_times=False))
    plain = device.run([sys.executable, "-c", script], timeout=60)
    assert plain.stdout == timed.stdout and plain.arrivals is None
