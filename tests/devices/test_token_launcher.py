"""The phone's token launcher (``tokenlaunch.c``), built with this host's compiler and run here.

What a phone's runs rely on: the runtime's stdout passes through unchanged,
each piece's arrival is noted in the host launcher's format, the runtime's
exit status (code or signal) is the launcher's, a signal sent to the
launcher reaches the runtime, and a killed launcher leaves no runtime
behind.  The same file cross-built for an arm64 phone is checked there in
tests/devices/adb/test_phone_token_times.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from pocketbench.core.devices import native, probe, spawn
from pocketbench.testing.wait import process_gone, wait_until


@pytest.fixture(scope="module")
def launcher() -> Path:
    toolchain = probe.toolchain_for("", local=True)
    return native.build("tokenlaunch.c", toolchain, "the token launcher", ("-O2",))


def launch(launcher: Path, tmp_path: Path, script: str, **kw) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen(
        [str(launcher), str(tmp_path / "arrivals"), "sh", "-c", script],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def test_output_passes_unchanged_and_each_piece_is_noted(launcher: Path, tmp_path: Path) -> None:
    # Two pieces apart, then 3 MB of every byte value in one go.
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 12_000)
    proc = launch(launcher, tmp_path, "printf a; sleep 0.3; printf bc; cat blob; exit 7")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7 and err == b""
    assert out == b"abc" + (tmp_path / "blob").read_bytes()
    data = (tmp_path / "arrivals").read_bytes()
    arrivals = spawn.read_arrivals(data)
    ends = [end for _, end in arrivals]
    times = [t for t, _ in arrivals]
    assert ends[:2] == [1, 3] and ends[-1] == len(out) and ends == sorted(ends)
    assert times == sorted(times) and times[0] > 0
    peak, cpu = spawn.read_rusage(data)  # type: ignore[misc]
    assert peak > 0 and cpu >= 0


def test_the_runtimes_death_by_a_signal_is_the_launchers(launcher: Path, tmp_path: Path) -> None:
    proc = launch(launcher, tmp_path, "kill -SEGV $$")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGSEGV
    assert spawn.read_rusage((tmp_path / "arrivals").read_bytes()) is not None


def test_a_signal_to_the_launcher_reaches_the_runtime(launcher: Path, tmp_path: Path) -> None:
    script = "trap 'echo TERM > got; exit 3' TERM; echo $$ > ready; while :; do sleep 0.1; done"
    proc = launch(launcher, tmp_path, script)
    try:
        assert wait_until((tmp_path / "ready").exists)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 3 and (tmp_path / "got").read_text() == "TERM\n"


def test_a_killed_launcher_leaves_no_runtime(launcher: Path, tmp_path: Path) -> None:
    proc = launch(launcher, tmp_path, "echo $$ > ready; exec sleep 300")
    try:
        assert wait_until(
            lambda: (tmp_path / "ready").exists() and (tmp_path / "ready").stat().st_size
        )
        runtime = int((tmp_path / "ready").read_text())
        proc.kill()
        proc.communicate(timeout=30)
        assert wait_until(lambda: process_gone(runtime)), "the runtime outlived its launcher"
    finally:
        proc.kill()


def test_a_missing_program_is_one_line(launcher: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(launcher), str(tmp_path / "arrivals"), str(tmp_path / "no-such-runtime")],
        capture_output=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 127
    assert proc.stderr.decode().strip().splitlines() == [
        f"tokenlaunch: cannot start {tmp_path / 'no-such-runtime'}: No such file or directory"
    ]
    # Nothing ran, so no arrivals and no second guess at them.
    assert spawn.read_arrivals((tmp_path / "arrivals").read_bytes()) == ()


def test_an_unwritable_arrivals_file_starts_nothing(launcher: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(launcher), str(tmp_path / "missing" / "arrivals"), "sh", "-c", "echo ran > ran"],
        capture_output=True, cwd=tmp_path, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 125 and b"cannot write" in proc.stderr
    assert not (tmp_path / "ran").exists() and os.listdir(tmp_path) == []
