"""A signal during prepare stops the helper's whole process group and leaves no half-built entry.

Prepare runs helpers (cmake and ninja with their compilers, llama-quantize,
ExecuTorch's export in a Python child).  A service stop reaches ``bench``
alone, so a helper's grandchildren survive unless its process group is
stopped; these tests send real signals to real processes and then look at
the process table and the cache.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pocketbench.core.kit import children
from pocketbench.testing.wait import process_gone, wait_until

#: A driver standing in for bench's main thread: signals handled as bench does,
#: one helper whose own child (like ninja's compilers) runs in the background.
DRIVER = """
import sys
from pocketbench.core.kit.children import run_child
from pocketbench.core.engine import signals
with signals.handled():
    try:
        run_child(["sh", "-c", "sleep 300 & echo $! > grandchild; exec sleep 301"])
    except KeyboardInterrupt as exc:
        print(signals.reason(exc), file=sys.stderr)
        sys.exit(signals.exit_code(exc))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_signal_during_a_helper_stops_its_whole_process_group(tmp_path: Path, sig) -> None:
    """SIGKILL cannot be handled: there the helper's watcher stops the group once bench is gone."""
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    marker = tmp_path / "grandchild"
    try:
        assert wait_until(lambda: marker.exists() and marker.read_text().strip(), timeout=60)
        grandchild = int(marker.read_text())
        helper = [p for p in _children_of(proc.pid) if b"sleep" in _cmdline(p)]
        assert helper, "the helper did not start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == (-sig if sig == signal.SIGKILL else 128 + sig), err
    assert "Traceback" not in err
    # The helper and the process it started in the background are both gone.
    assert wait_until(lambda: process_gone(grandchild), timeout=30), "a grandchild kept running"
    assert wait_until(lambda: all(process_gone(pid) for pid in helper), timeout=30)


def test_stop_all_stops_a_helper_that_another_thread_waits_for() -> None:
    caught: list[BaseException] = []

    def prepare() -> None:  # a device's thread, building
        try:
            children.run_child(["sleep", "300"])
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            caught.append(exc)

    worker = threading.Thread(target=prepare)
    worker.start()
    assert wait_until(lambda: children._running, timeout=30)
    (pid,) = list(children._running)
    children.stop_all()  # what the main thread does when a signal arrives
    worker.join(30)
    assert not worker.is_alive()
    assert len(caught) == 1 and isinstance(caught[0], children.ChildStopped), caught
    assert process_gone(pid)


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.executorch
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_an_export_stops_it_leaves_no_partial_entry_and_the_next_run_works(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A signal to a real ``bench`` (only to it) while ExecuTorch exports the tiny preset.

    The run after it generates 40 tokens: with fewer, the tiny model's decode can
    fall below the runner's 1 ms clock and the run is refused as unmeasurable.
    """
    pytest.importorskip("executorch")
    from pocketbench.testing.cli import BIN, bench_env
    from pocketbench.testing.faults import measured

    cache = tmp_path / "cache"  # this test's own: the export must really run
    env = bench_env(POCKETBENCH_CACHE=str(cache), POCKETBENCH_LOCKS=str(tmp_path / "locks"))
    db = tmp_path / "r.db"
    argv = [str(BIN / "bench"), "--backend", "executorch", "--quant", "fp32", "--model", "tiny",
            "--runs", "1", "--warmup", "0", "--prompt-tokens", "32", "--gen-tokens", "40",
            "--db", str(db), "--campaign", "prep", "--cooldown", "off"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        exports: list[int] = []
        assert wait_until(
            lambda: exports.extend(_descendants(proc.pid, "export_llama")) or exports,
            timeout=900,
        ), "the export never started"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert f"stopped by {sig.name}" in err or sig == signal.SIGINT and "interrupted" in err
    assert wait_until(lambda: all(process_gone(p) for p in exports), timeout=30)
    root = cache / "executorch"
    partial = [p for p in root.rglob("*") if ".tmp" in p.name]
    assert partial == [], "a half-written cache entry was left"
    assert not list(root.rglob("model.pte")), "an export was published though it was stopped"
    again = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert again.returncode == 0, again.stderr
    assert [i for i, _ in measured(db, "prep")] == [0]


def _descendants(pid: int, needle: str) -> list[int]:
    """Processes under ``pid`` whose command line contains ``needle``."""
    parent: dict[int, int] = {}
    cmdline: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        cmdline[int(entry.name)] = cmd

    def under(p: int) -> bool:
        while p in parent and p != pid:
            p = parent[p]
        return p == pid

    return [p for p, cmd in cmdline.items() if needle in cmd and p != pid and under(p)]
