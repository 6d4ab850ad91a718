"""Signals, dead processes and two processes at once, against a real bench and runtime."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from pocketbench.testing.cli import wait_for_runs
from pocketbench.testing.faults import job_rows, measured
from pocketbench.testing.wait import process_gone, wait_until


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_the_runtime_marks_the_job_and_the_same_command_resumes(
    bench, tmp_path, sig
) -> None:
    db = tmp_path / "r.db"
    argv = bench.argv(db, "svc", runs=5)
    proc = bench.start(argv, hold=True)
    try:
        assert wait_for_runs(db, 1, timeout=300) >= 1, "bench stored no run in time"
        runtime = bench.held_runtime()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert f"stopped by {sig.name}" in err and "--campaign svc" in err
    assert wait_until(lambda: process_gone(runtime), timeout=30), "the runtime kept running"
    assert measured(db, "svc") == [(0, 1)]  # run 0 kept; run 1, stopped, is not a measurement
    (status, error), *_ = job_rows(db)
    assert status == "interrupted" and error.startswith(f"stopped by {sig.name}")
    bench.release()
    again = bench.run(argv)
    assert again.returncode == 0, again.stderr
    assert [i for i, _ in measured(db, "svc")] == list(range(5)), "a run was lost or measured twice"
    assert [s for s, _ in job_rows(db)] == ["interrupted", "done"]


def test_kill_9_leaves_a_job_that_reads_interrupted_and_resumes(bench, tmp_path) -> None:
    db = tmp_path / "r.db"
    argv = bench.argv(db, "cut", runs=6)
    proc = bench.start(argv, hold=True)
    try:
        assert wait_for_runs(db, 1, timeout=300) >= 1
        runtime = bench.held_runtime()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # nothing of bench can react: a power cut
        proc.communicate()
    assert wait_until(lambda: process_gone(runtime), timeout=60), "the runtime outlived bench"
    assert job_rows(db)[0][0] == "running"  # what the dead process left behind
    listed = bench.run([argv[0], "report", "--db", str(db), "--list"])
    assert listed.returncode == 0, listed.stderr
    assert "jobs: 1 interrupted" in listed.stdout and "running" not in listed.stdout
    bench.release()
    again = bench.run(argv)
    assert again.returncode == 0, again.stderr
    assert f"pid {proc.pid}" in again.stderr and "ended without finishing" in again.stderr
    assert [i for i, _ in measured(db, "cut")] == list(range(6))
    assert [s for s, _ in job_rows(db)] == ["interrupted", "done"]


def test_two_bench_processes_on_one_configuration_never_both_measure(bench, tmp_path) -> None:
    db = tmp_path / "r.db"
    argv = bench.argv(db, "same", runs=3)
    first = bench.start(argv, hold=True)
    second = None
    try:
        assert wait_for_runs(db, 1, timeout=300) >= 1
        bench.held_runtime()  # the first holds the device from now on
        busy = bench.run(bench.argv(db, "other", runs=1, no_wait=""))
        assert busy.returncode == 6, busy.stderr
        lines = [x for x in busy.stderr.splitlines() if x.strip()]
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and "bench " in lines[0], lines
        log = tmp_path / "second.err"
        with open(log, "w") as f:  # the same command again: it waits, then finds the runs done
            second = subprocess.Popen(argv, cwd=tmp_path, env=bench.env, stderr=f, text=True,
                                      stdout=subprocess.DEVNULL)  # fmt: skip
        assert wait_until(lambda: "waiting for device local" in log.read_text(), timeout=300)
        bench.release()
        second.wait(timeout=600)
        _, err1 = first.communicate(timeout=600)
        err2 = log.read_text()
    finally:
        bench.release()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert f"waiting for device local: being measured by pid {first.pid}" in err2
    assert [i for i, _ in measured(db, "same")] == [0, 1, 2], "runs measured twice"
    assert measured(db, "other") == []
    assert [s for s, _ in job_rows(db)] == ["done"]


def test_kill_9_of_the_holder_lets_the_waiting_process_take_over_the_remainder(
    bench, tmp_path
) -> None:
    db = tmp_path / "r.db"
    argv = bench.argv(db, "relay", runs=4)
    first = bench.start(argv, hold=True)
    log = tmp_path / "second.err"
    second = None
    try:
        assert wait_for_runs(db, 1, timeout=300) >= 1
        bench.held_runtime()
        with open(log, "w") as f:
            second = subprocess.Popen(argv, cwd=tmp_path, env=bench.env, stderr=f, text=True,
                                      stdout=subprocess.DEVNULL)  # fmt: skip
        assert wait_until(lambda: "waiting for device local" in log.read_text(), timeout=300)
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
        bench.release()
        second.wait(timeout=600)
    finally:
        bench.release()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
    err = log.read_text()
    assert second.returncode == 0, err
    assert f"took over the lease of device local from pid {first.pid}" in err
    assert (
        f"took over the claim on hold baseline tiny on local (campaign relay) from pid {first.pid}"
        in err
    )
    assert "ended without finishing" in err and "Traceback" not in err
    assert [i for i, _ in measured(db, "relay")] == [0, 1, 2, 3], "a run lost or measured twice"
    assert [s for s, _ in job_rows(db)] == ["interrupted", "done"]


def test_dead_holders_lease_and_claim_are_taken_over_saying_so(tmp_path, monkeypatch) -> None:
    # Locks of this test only: another bench measuring "local" on the machine
    # would otherwise hold the device this test takes over.
    monkeypatch.setenv("POCKETBENCH_LOCKS", str(tmp_path / "locks"))
    from pocketbench.core.devices.local import LocalDevice
    from pocketbench.core.engine.lease import Leases
    from pocketbench.core.kit.identity import Holder, host
    from pocketbench.core.results import claims
    from pocketbench.core.results.store import Store

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = Holder(host(), gone.pid, "boot/1", "bench run (killed)", 1.0, 1.0)
    said: list[str] = []
    with Store.open(tmp_path / "r.db") as store:
        assert claims.take_lease(store, f"local@{host()}", dead) == (None, None)
        assert claims.take_claim(store, "c", "k", dead) == (None, None)
        leases = Leases(store=store, echo=said.append, wait=False)
        with leases.device(LocalDevice()), leases.configuration("c", "k", "fake on local"):
            pass
    assert any("took over the lease of device local" in s and f"pid {gone.pid}" in s for s in said)
    assert any("took over the claim on fake on local" in s for s in said)
