"""`bench --device adb:SERIAL` end to end: real adb server, loopback phone, real llama.cpp.

The loopback phone runs commands on this host, so the host's llama.cpp build
stands in for an Android build; everything between `bench` and the process
(adb server, transport, shell v2, sync push) is the real path.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import run_bench, wait_for_runs

pytestmark = [pytest.mark.adb, pytest.mark.slow]

NASTY = "\"; rm -rf /; $(reboot) `id` 'x' | & > /tmp/pwned"


def test_bench_runs_on_the_phone_and_a_second_job_pushes_no_model_bytes(
    attach, server, tmp_path, host_build
) -> None:
    phone = attach()
    args = (
        "--backend",
        "llamacpp",
        "--quant",
        "q4_0",
        "--model",
        "tiny",
        "--device",
        f"adb:{phone.serial}",
        "--llamacpp-bin",
        host_build,
        "--runs",
        "2",
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "8",
        "--cooldown",
        "off",
        "--prompt",
        NASTY,
    )
    env = {"ANDROID_ADB_SERVER_PORT": str(server.port)}
    first = run_bench(*args, cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    # the progress lines name the configuration; the summary's column its scheme
    assert f"llamacpp q4_0 tiny @adb:{phone.serial}" in first.stderr
    assert "llamacpp Q4_0" in first.stdout
    sent = phone.daemon.bytes_received
    second = run_bench(*args, cwd=tmp_path, **env)
    assert second.returncode == 0, second.stderr
    assert phone.daemon.bytes_received - sent < 4096, "the unchanged model was pushed again"
    with Store.open(tmp_path / "pocketbench.db") as s:
        configs = configurations(s)
    assert len(configs) == 1 and configs[0].facts.kind == "adb"
    assert all(r.metrics.gen_tokens == 8 for r in configs[0].ok_runs)
    # the prompt's shell metacharacters did nothing on the "device"
    assert not (phone.daemon.sandbox / "pwned").exists()
    assert not any(p.name == "pwned" for p in phone.daemon.sandbox.rglob("*"))


def test_phone_disappearing_mid_run_is_one_line_and_keeps_the_runs(
    attach, server, tmp_path, host_build
) -> None:
    phone = attach()
    db = tmp_path / "pocketbench.db"
    args = (
        "--backend",
        "llamacpp",
        "--quant",
        "q4_0",
        "--model",
        "tiny",
        "--device",
        f"adb:{phone.serial}",
        "--llamacpp-bin",
        host_build,
        "--runs",
        "50",
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "200",
        "--cooldown",
        "off",
        "--campaign",
        "unplugged",
    )

    def unplug_after_two_runs() -> None:
        wait_for_runs(db, 2, timeout=300)
        killed_at.append(time.monotonic())
        phone.daemon.kill()

    killed_at: list[float] = []
    killer = threading.Thread(target=unplug_after_two_runs, daemon=True)
    killer.start()
    r = run_bench(*args, cwd=tmp_path, ANDROID_ADB_SERVER_PORT=str(server.port))
    ended = time.monotonic()
    killer.join(5)
    # from the fault to bench's one-line error: seconds, not a hang
    assert killed_at and ended - killed_at[0] < 30, ended - killed_at[0]
    print(f"fault to error: {ended - killed_at[0]:.2f} s")
    assert r.returncode == 4, (r.stdout, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    with Store.open(db) as s:
        (cfg,) = configurations(s, "unplugged")
    assert len(cfg.ok_runs) >= 2


def test_two_phones_are_measured_in_parallel_and_stored_per_device(
    attach, server, tmp_path, host_build
) -> None:
    a, b = attach(), attach()
    r = run_bench(
        "--backend",
        "llamacpp",
        "--quant",
        "q8_0",
        "--model",
        "tiny",
        "--device",
        f"adb:{a.serial}",
        "--device",
        f"adb:{b.serial}",
        "--llamacpp-bin",
        host_build,
        "--runs",
        "4",
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "120",
        "--cooldown",
        "off",
        cwd=tmp_path,
        ANDROID_ADB_SERVER_PORT=str(server.port),
    )
    assert r.returncode == 0, r.stderr
    for phone in (a, b):
        # two devices: the summary's columns are told apart by device
        assert f"llamacpp Q8_0 @adb:{phone.serial}" in r.stdout
    with Store.open(tmp_path / "pocketbench.db") as s:
        configs = {c.device: c for c in configurations(s)}
    assert set(configs) == {f"adb:{a.serial}", f"adb:{b.serial}"}
    assert all(len(c.ok_runs) == 4 for c in configs.values())
    # in parallel: the two phones' run windows overlap
    spans = []
    for c in configs.values():
        times = [x.before.time for x in c.records if x.before] + [
            x.after.time for x in c.records if x.after
        ]
        spans.append((min(times), max(times)))
    (s1, e1), (s2, e2) = spans
    assert s1 < e2 and s2 < e1, "the phones were measured one after the other"


def test_pushes_show_progress_and_skips(attach, server, tmp_path, host_build) -> None:
    phone = attach()
    args = ("--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
            "--device", f"adb:{phone.serial}", "--llamacpp-bin", host_build,
            "--runs", "1", "--warmup", "0", "--prompt-tokens", "8", "--gen-tokens", "4",
            "--cooldown", "off")  # fmt: skip
    env = {"ANDROID_ADB_SERVER_PORT": str(server.port)}
    first = run_bench(*args, cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert re.search(rf"pushing \S+\.gguf to adb:{phone.serial}: 100% of", first.stderr)
    second = run_bench(*args, cwd=tmp_path, **env)
    assert re.search(
        rf"\S+\.gguf: already on adb:{phone.serial} .* not pushed again", second.stderr
    )
