"""Helpers of the fault-injection suite: a real ``bench`` with a real runtime child.

The runtime is the shared FakeBackend's child process, installed as a real
plugin (a ``*.dist-info`` with an entry point on PYTHONPATH) named ``hold``:
its first run (index 0) ends at once; every later run holds while the file
named by ``$POCKETBENCH_TEST_HOLD`` exists (and writes its pid beside that
file), so a test signals ``bench`` after run 0 is stored and while a
runtime certainly runs, without fixed sleeps or long models.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketbench.testing.cli import BIN, bench_env

HOLD_CHILD = """
import os, time
hold = os.environ.get("POCKETBENCH_TEST_HOLD", "")
if hold and os.path.exists(hold):
    with open(hold + ".pid", "w") as f:
        f.write(str(os.getpid()))
    while os.path.exists(hold):
        time.sleep(0.05)
print("prompt eval time = 10.000 ms / 8 tokens")
print("eval time = 40.000 ms / 16 runs")
"""

PLUGIN = f"""
from pocketbench.testing.backends import GOOD, FakeBackend
backend = FakeBackend("hold", {{"baseline": (200.0, 50.0)}}, scripts=[GOOD, {HOLD_CHILD!r}])
"""


@pytest.fixture(scope="session")
def hold_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site-hold")
    info = site / "pocketbench_hold-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pocketbench-hold\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[pocketbench.backends]\nhold = pocketbench_hold:backend\n"
    )
    (site / "pocketbench_hold.py").write_text(PLUGIN)
    return site


class Bench:
    """Starts ``bench run --backend hold`` (its runs are real child processes)."""

    def __init__(self, site: Path, tmp_path: Path) -> None:
        self.site = site
        self.tmp_path = tmp_path
        self.hold = tmp_path / "hold"
        # Device locks of this test only: another test session on the machine
        # measuring "local" must not be the holder these tests name.
        self.env = bench_env(
            site, POCKETBENCH_LOCKS=str(tmp_path / "locks"), POCKETBENCH_TEST_HOLD=str(self.hold)
        )

    def held_runtime(self, timeout: float = 300) -> int:
        """The pid of the runtime that holds (run 1 of a bench started with ``hold=True``)."""
        from pocketbench.testing.wait import wait_until

        marker = self.hold.with_name("hold.pid")
        assert wait_until(lambda: marker.exists() and marker.read_text(), timeout), "no run held"
        return int(marker.read_text())

    def release(self) -> None:
        self.hold.unlink(missing_ok=True)

    def argv(
        self, db: Path, campaign: str, *, runs: int = 4, gen: int = 8, **more: str
    ) -> list[str]:
        argv = [str(BIN / "bench"), "--backend", "hold", "--model", "tiny", "--runs", str(runs),
                "--warmup", "0", "--prompt-tokens", "8", "--gen-tokens", str(gen), "--db", str(db),
                "--campaign", campaign, "--cooldown", "off"]  # fmt: skip
        for key, value in more.items():
            argv += (
                [f"--{key.replace('_', '-')}", value] if value else [f"--{key.replace('_', '-')}"]
            )
        return argv

    def start(self, argv: list[str], *, hold: bool = False) -> subprocess.Popen[str]:
        if hold:
            self.hold.touch()
        return subprocess.Popen(
            argv, cwd=self.tmp_path, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip

    def run(self, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.tmp_path, env=self.env, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture
def bench(hold_site: Path, tmp_path: Path) -> Iterator[Bench]:
    b = Bench(hold_site, tmp_path)
    yield b
    b.release()  # a runtime left by a kill -9 ends
