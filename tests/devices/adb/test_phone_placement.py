"""`bench --cores` on the loopback phone, through the real adb server.

The phone's clusters are fake sysfs files, but affinity is real: toybox's
``taskset`` pins the process on this host's kernel, and the test reads the
process's ``Cpus_allowed_list`` as the phone reported it.  This host may
have only two cores, so the phone's "big cluster" is core 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pytest

from pocketbench.core.api.errors import ExitCode, PocketbenchError
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.backends import FakeBackend, registry_with
from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.phone.adbhardware import Hardware

pytestmark = pytest.mark.adb

#: The Galaxy A25's layout: six little cores and two big ones (more cores than this host has).
A25_FREQS = (2_002_000,) * 6 + (2_400_000,) * 2
#: What this host can really pin: core 0 little, core 1 big.
TWO_CLUSTERS = (1_800_000, 2_400_000)
#: A runtime that reports its own allowed cores on stdout, then llama.cpp-like timing lines.
REPORTS_CORES = (
    "import os; print('cores', sorted(os.sched_getaffinity(0)));"
    " print('prompt eval time = 10.000 ms / 8 tokens'); print('eval time = 40.000 ms / 16 runs')"
)


def bench(*args: str, backend: FakeBackend | None = None) -> tuple[int, list[str]]:
    """``bench ARGS`` in this process with the fake backend; (exit code, error lines)."""
    from pocketbench.core.cli.main import build_cli

    said: list[str] = []
    registry = registry_with(backend or FakeBackend(scripts=[REPORTS_CORES]))
    try:
        result = build_cli().main(
            args=list(args), obj={"registry": registry}, standalone_mode=False, prog_name="bench"
        )
    except click.exceptions.Exit as exc:
        return int(exc.exit_code), said
    except PocketbenchError as exc:
        said.append(f"error: {exc}")
        return int(exc.exit_code), said
    return int(result or 0), said


def run_args(phone, db: Path, *extra: str) -> list[str]:
    # --no-bandwidth: the memory-bandwidth probe is load on the phone of its own,
    # and these tests count the stretches under load that runs make.
    return [
        "run", "--backend", "fake", "--model", "m", "--device", phone.spec, "--db", str(db),
        "--runs", "2", "--warmup", "0", "--cooldown", "off", "--no-bandwidth", *extra,
    ]  # fmt: skip


def configs(db: Path):
    with Store.open(db, create=False) as store:
        return configurations(store)


def test_cores_big_pins_the_runtime_to_the_fastest_cluster(attach, tmp_path) -> None:
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS)))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--cores", "big"))
    assert code == 0, said
    (config,) = configs(db)
    assert config.workload.cores == (1,) and config.workload.threads == 1
    assert "cores=2" in config.config_key
    for run in config.records:
        assert run.trace.cpus_allowed == "1"  # as the phone's /proc/PID/status said
        assert "cores [1]" in run.result.stdout  # and as the runtime itself saw it
        assert run.result.argv[:2] == (sys.executable, "-c")  # taskset execs: same program
    # the readings carry each core's frequency and governor
    assert config.records[0].before.cur_freqs_khz == TWO_CLUSTERS
    assert config.records[0].before.governors == ("schedutil", "schedutil")
    # a second placement is a second configuration, labelled by its cores
    code, said = bench(*run_args(phone, db, "--cores", "all", "--campaign", config.campaign))
    assert code == 0, said
    assert {c.workload.placement for c in configs(db)} == {"big", "all"}
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    for out in (md, js):
        assert bench("report", "--db", str(db), "-o", str(out))[0] == 0
    text = md.read_text()
    assert "t1 cores big |" in text and "t2 cores all |" in text  # column labels
    assert "pinned to big (cores 1, mask 2)" in text
    import json

    shown = {tuple(c["cores"]) for c in json.loads(js.read_text())["configurations"]}
    assert shown == {(1,), (0, 1)}


def test_threads_beyond_the_pinned_cores_warn(attach, tmp_path, capsys) -> None:
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS)))
    code, said = bench(*run_args(phone, tmp_path / "r.db", "--cores", "big", "--threads", "2"))
    assert code == 0, said
    assert "--threads 2 exceeds the 1 core(s) allowed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("hardware", "missing", "cores", "expected"),
    [
        (Hardware(max_freqs_khz=(2_000_000, 2_000_000)), (), "big", "has no big cluster"),
        (Hardware(max_freqs_khz=TWO_CLUSTERS), (), "0,5", "has no core 5 (it has cores 0-1)"),
        (Hardware(max_freqs_khz=TWO_CLUSTERS), ("taskset",), "big", "has no taskset"),
        # The A25's big cores 6-7 do not exist on this host's kernel: taskset refuses the mask.
        (Hardware(max_freqs_khz=A25_FREQS), (), "big", "refused mask c0"),
    ],
    ids=["no-clusters", "no-such-core", "taskset-missing", "taskset-refused"],
)
def test_placement_that_cannot_be_honoured_is_one_line_and_loses_nothing(
    attach, tmp_path, hardware, missing, cores, expected
) -> None:
    phone = attach(Fixture(hardware=hardware, missing_tools=missing))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--campaign", "kept"))
    assert code == 0, said
    code, said = bench(*run_args(phone, db, "--campaign", "kept", "--cores", cores))
    assert code in (ExitCode.USAGE, ExitCode.SETUP)
    (line,) = said
    assert expected in line and "\n" not in line
    (config,) = configs(db)  # the unpinned runs stored before are all still there
    assert config.n_ok == 2 and not config.workload.cores
