"""Every token's time on a phone: the core's launcher, pushed beside the runtime, times each token there.

The loopback phone runs commands on this host through Debian's adb server;
in arm64 mode the launcher and llama.cpp's tools are aarch64 executables
cross-built with zig and run under qemu user-mode emulation.  Emulated
speed means nothing, so these tests assert what a user sees (TPOT printed,
``latency`` in the JSON report, the consistency check's verdict or its
reason), never figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from pocketbench.core.api.model import Metrics, ProcessResult
from pocketbench.core.devices import native, probe
from pocketbench.core.devices.base import RunSetup, TokenLauncher
from pocketbench.core.kit.convert import loads
from pocketbench.plugin import read_elf
from pocketbench.testing.cli import run_bench
from pocketbench.testing.phone.arm64 import arm64_fixture
from pocketbench.testing.wait import process_gone, wait_until

pytestmark = pytest.mark.adb

TPOT = "Time per Output Token, p50 (ms)"


def give_launcher(device) -> str:  # noqa: ANN001
    """The launcher built with the core's toolchain for ``device``, pushed, handed to it."""
    toolchain = probe.toolchain_for(device.facts().abi, local=False)
    binary = native.build("tokenlaunch.c", toolchain, "the token launcher", ("-O2",))
    path = native.install(device, binary, probe.DEVICE_DIR, "the token launcher")
    device.use_token_launcher(TokenLauncher(path=path))
    return path


def leftovers(phone) -> list[str]:  # noqa: ANN001
    return sorted(p.name for p in (phone.daemon.sandbox / "pocketbench").glob(".*-*"))


def test_a_phone_run_is_timed_by_its_launcher(device, phone) -> None:  # noqa: ANN001
    give_launcher(device)
    r = device.run(["sh", "-c", "printf a; sleep 0.3; printf b; echo err >&2; exit 7"], timeout=60)
    assert r.exit_code == 7 and r.stdout == "ab" and r.stderr == "err\n"
    assert r.arrivals is not None and [end for _, end in r.arrivals] == [1, 2]
    assert r.arrivals[0][0] < r.arrivals[1][0]
    # The runtime's own peak memory (the launcher's wait4), not the launcher's.
    big = device.run(["sh", "-c", "head -c 60000000 /dev/zero | tr '\\0' x | wc -c"], timeout=60)
    assert big.stdout.strip() == "60000000" and big.peak_rss_bytes is not None
    assert leftovers(phone) == []

    device.use_setup(RunSetup(token_times=False))
    plain = device.run(["sh", "-c", "printf abc"], timeout=60)
    assert plain.stdout == "abc" and plain.arrivals is None and plain.arrivals_problem == ""


def test_a_phone_run_past_its_timeout_leaves_no_runtime(device, phone) -> None:  # noqa: ANN001
    give_launcher(device)
    r = device.run(["sh", "-c", "echo $$ > rt.pid; exec sleep 300"], timeout=2)
    assert r.timed_out and r.arrivals is None
    runtime = int((phone.daemon.sandbox / "pocketbench" / "rt.pid").read_text())
    assert wait_until(lambda: process_gone(runtime)), "the runtime outlived the run"
    assert leftovers(phone) == []


def test_without_a_launcher_a_phone_run_says_why(device) -> None:  # noqa: ANN001
    device.use_token_launcher(TokenLauncher(problem="no compiler"))
    r = device.run(["sh", "-c", "printf abc"], timeout=60)
    assert r.ok and r.stdout == "abc" and r.arrivals is None and r.arrivals_problem == "no compiler"


@pytest.mark.slow
def test_bench_on_a_phone_prints_tpot_or_says_why_there_is_none(
    attach, server, tmp_path: Path, host_build
) -> None:  # noqa: ANN001
    phone = attach()

    def bench(campaign: str, **env: str):  # noqa: ANN202
        r = run_bench(
            "run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
            "--device", f"adb:{phone.serial}", "--llamacpp-bin", host_build,
            "--runs", "2", "--warmup", "0", "--prompt-tokens", "16", "--gen-tokens", "16",
            "--cooldown", "off", "--campaign", campaign, cwd=tmp_path,
            ANDROID_ADB_SERVER_PORT=str(server.port), **env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        report = run_bench("report", "--format", "json", "--campaign", campaign, cwd=tmp_path)
        (config,) = json.loads(report.stdout)["configurations"]
        return r, config["latency"]

    timed, latency = bench("timed")
    # The host's tiny model decodes a token in about 0.1 ms, often too fast for two
    # tokens to reach the launcher apart: then the run says so; else it has every step.
    with sqlite3.connect(tmp_path / "pocketbench.db") as c:
        rows = c.execute("SELECT metrics FROM runs WHERE warmup = 0").fetchall()
    assert len(rows) == 2
    for (text,) in rows:
        taken = loads(text, Metrics).latency  # type: ignore[union-attr]
        assert taken is not None and "no token launcher" not in taken.declined
        if not taken.declined:
            assert len(taken.steps_us) == 15
    assert latency is not None
    assert TPOT in timed.stdout or "note: llamacpp Q4_0: per-token times" in timed.stdout

    # No compiler for the launcher: the runs are measured all the same, and say why in one line.
    untimed, latency = bench("untimed", POCKETBENCH_PROBE_CC="/nonexistent/cc")
    assert TPOT not in untimed.stdout
    (line,) = [s for s in untimed.stdout.splitlines() if "per-token times declined" in s]
    assert "no token launcher" in line and "/nonexistent/cc" in line
    (problem,) = latency["problems"]
    assert latency["tpot_p50_ms"] is None and line.endswith(problem)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # cross-builds llama.cpp for the phone when no earlier test did
def test_an_arm64_phone_times_every_token_with_a_launcher_beside_its_tools(
    attach, server, tmp_path: Path, arm64_tools
) -> None:  # noqa: ANN001
    phone = attach(arm64_fixture())
    r = run_bench(
        "run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
        "--device", f"adb:{phone.serial}", "--runs", "2", "--warmup", "1",
        "--prompt-tokens", "16", "--gen-tokens", "16", "--cooldown", "off",
        cwd=tmp_path, timeout=1800, ANDROID_ADB_SERVER_PORT=str(server.port),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    report = run_bench("report", "--format", "json", cwd=tmp_path)
    (config,) = json.loads(report.stdout)["configurations"]
    latency = config["latency"]
    # Every run timed on the phone by the launcher: either its figures agree with
    # llama.cpp's own decode time and rate (then TPOT is printed and summarised), or the
    # report says, per run, by how much they disagree.  Under emulation on a busy host two
    # of the tiny model's tokens can reach the launcher in one read: then the run says so
    # (the host test accepts the same), but it never lacks the launcher.
    assert latency is not None and not any("no token launcher" in p for p in latency["problems"])
    merged = [p for p in latency["problems"] if "declined" in p]
    assert all("pieces for" in p for p in merged), merged
    if latency["tpot_p50_ms"] is not None:
        assert TPOT in r.stdout
        p50, p90, p99 = (latency[f"tpot_p{q}_ms"]["mean"] for q in (50, 90, 99))
        assert 0 < p50 <= p90 <= p99 <= latency["max_gap_ms"]["mean"]
    elif not merged:
        (problem,) = latency["problems"]
        assert "unreliable" in problem and "against the runtime's" in problem
    print("consistency under qemu:", latency["problems"] or "holds")

    # The launcher is an aarch64 executable in the folder the tools run from.
    runner = shlex.split(config["describe"]["argv"])[0]
    tools = (phone.daemon.sandbox / runner.removeprefix("/data/local/tmp/")).parent
    (launcher,) = tools.glob("tokenlaunch-*")
    assert read_elf(launcher).machine == 183  # EM_AARCH64

    # A run stopped by a signal to its launcher: the signal reaches llama-completion, the
    # run ends as llama-completion did (killed by SIGTERM), and nothing of it runs on.
    from pocketbench.core.devices import open_device

    device = open_device(f"adb:{phone.serial}", adb_port=phone.server_port)
    device.use_token_launcher(
        TokenLauncher(path="/data/local/tmp/" + str(launcher.relative_to(phone.daemon.sandbox)))
    )
    # Endless generation (context shift on), so only the signal ends it.
    argv = [*shlex.split(config["describe"]["argv"]), "--context-shift"]
    argv[argv.index("-n") + 1] = "-1"
    program = tools / Path(runner).name
    done: list[ProcessResult] = []
    worker = threading.Thread(target=lambda: done.append(device.run(argv, timeout=900)))
    worker.start()
    try:
        pidfile = phone.daemon.sandbox / "pocketbench"
        assert wait_until(lambda: running(program) and list(pidfile.glob(".run-*.pid")), 120)
        ((launcher_pid,),) = [p.read_text().split()[1:] for p in pidfile.glob(".run-*.pid")]
        os.kill(int(launcher_pid), signal.SIGTERM)  # the launcher only, not its group
        worker.join(120)
    finally:
        for pid in running(program):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    (result,) = done
    assert result.exit_code == 128 + signal.SIGTERM and not result.timed_out
    assert wait_until(lambda: not running(program)), "llama-completion outlived its launcher"


def running(program: Path) -> list[int]:
    """Processes of ``program`` on the phone (its launcher and wrapper, which name it, aside)."""
    name = str(program).encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        pid = int(entry.name) if entry.name.isdigit() else 0
        if name in cmdline and b"tokenlaunch" not in cmdline and pid and not process_gone(pid):
            found.append(pid)
    return found
