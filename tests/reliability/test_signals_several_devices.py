"""A signal to a ``bench`` measuring on two devices at once stops both, keeps both's runs.

One device is this host, the other the loopback adb phone behind a real adb
server; each device's runs go on in its own thread, and a signal reaches only
the main one.  The runtime is a real child process on each device (the
``holdall`` test backend): its first run ends at once, later ones hold while
a file exists, so the signal arrives while a runtime certainly runs on both
devices.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import BIN, bench_env
from pocketbench.testing.faults import job_rows
from pocketbench.testing.phone.adbhost import attached_phone, find_adb
from pocketbench.testing.wait import process_gone, wait_until

pytestmark = pytest.mark.adb

#: The runtime: the hold file's path is written into it, because a phone's
#: shell does not pass bench's environment on.
HELD = """
import os, time
hold = {hold!r}
if os.path.exists(hold):
    with open(hold + ".%d.pid" % os.getpid(), "w") as f:
        f.write(str(os.getpid()))
    while os.path.exists(hold):
        time.sleep(0.05)
print("prompt eval time = 10.000 ms / 8 tokens")
print("eval time = 40.000 ms / 16 runs")
"""

PLUGIN = f"""
import os
from pocketbench.testing.backends import GOOD, FakeBackend
held = {HELD!r}.format(hold=os.environ["POCKETBENCH_TEST_HOLD"])
backend = FakeBackend("holdall", {{"baseline": (200.0, 50.0)}}, scripts=[GOOD, held])
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "pocketbench_holdall-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pocketbench-holdall\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[pocketbench.backends]\nholdall = pocketbench_holdall:backend\n"
    )
    (site / "pocketbench_holdall.py").write_text(PLUGIN)
    return site


def indices_by_device(db: Path) -> dict[str, list[int]]:
    with Store.open(db, create=False) as store:
        return {
            c.device: sorted(r.index for r in c.records if not r.warmup)
            for c in configurations(store, "multi")
        }


def test_signal_with_two_devices_stops_every_runtime_and_keeps_every_run(
    site: Path, tmp_path: Path
) -> None:
    if find_adb() is None:
        pytest.skip("Debian's adb is not installed: apt-get install -y adb")
    hold = tmp_path / "hold"
    env = bench_env(
        site, POCKETBENCH_LOCKS=str(tmp_path / "locks"), POCKETBENCH_TEST_HOLD=str(hold)
    )
    db = tmp_path / "r.db"
    with attached_phone(tmp_path / "phone") as phone:
        argv = [str(BIN / "bench"), "--backend", "holdall", "--model", "tiny", "--runs", "4",
                "--warmup", "0", "--prompt-tokens", "8", "--gen-tokens", "8", "--db", str(db),
                "--campaign", "multi", "--cooldown", "off",
                "--device", "local", "--device", phone.spec]  # fmt: skip
        hold.touch()
        proc = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        try:
            held = lambda: sorted(tmp_path.glob("hold.*.pid"))  # noqa: E731
            assert wait_until(lambda: len(held()) == 2, timeout=300), "not both runtimes held"
            runtimes = [int(p.read_text()) for p in held()]
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
            hold.unlink(missing_ok=True)
        assert proc.returncode == 143, err
        assert "Traceback" not in err and "stopped by SIGTERM" in err
        # Neither runtime outlived bench: the host's, nor the phone's.
        for pid in runtimes:
            assert wait_until(lambda pid=pid: process_gone(pid), timeout=30), "a runtime ran on"
        assert [s for s, _ in job_rows(db)] == ["interrupted", "interrupted"]
        assert indices_by_device(db) == {"local": [0], phone.spec: [0]}, "a stored run was lost"
        # The same command measures exactly the missing runs on both devices.
        again = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert again.returncode == 0, again.stderr
        assert indices_by_device(db) == {"local": [0, 1, 2, 3], phone.spec: [0, 1, 2, 3]}
