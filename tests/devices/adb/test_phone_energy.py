"""`bench --energy` on the loopback phone: the battery sampled on the device, through the real adb server.

The phone's battery follows a known waveform (idle current, more while a
run is in progress, a sine ripple; the voltage sags with the current) and
logs every value it served, so the energy pocketbench integrates from its
own on-device samples is checked against the exact integral of what the
gauge said over the same interval.  Tolerance: 5% (the trapezoid rule at
~5 samples/s against a 1.3 s ripple and a load step, on a shared machine).
"""

from __future__ import annotations

import json
import math

import pytest

from pocketbench.core.api.errors import ExitCode
from pocketbench.testing.backends import FakeBackend
from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.phone.adbhardware import Battery, Hardware

from .test_phone_placement import TWO_CLUSTERS, bench, configs, run_args

pytestmark = pytest.mark.adb

#: A runtime that computes for about three seconds of wall time, then prints its timing lines.
BUSY = (
    "import time\nt = time.time()\nwhile time.time() - t < 3.0: pass\n"
    "print('prompt eval time = 100.000 ms / 8 tokens'); print('eval time = 400.000 ms / 16 runs')"
)
TOLERANCE = 0.05


def busy() -> FakeBackend:
    return FakeBackend(scripts=[BUSY])


@pytest.mark.parametrize(
    ("unit", "sign"), [("uA", 1), ("mA", -1)], ids=["uA-positive", "mA-negative"]
)
def test_energy_matches_the_waveform_the_gauge_served(attach, tmp_path, unit, sign) -> None:
    battery = Battery(unit=unit, discharge_sign=sign)
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS, battery=battery)))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--energy", "--cores", "big"), backend=busy())
    assert code == 0, said
    (config,) = configs(db)
    for run in config.records:
        energy = run.trace.energy
        assert energy.ok, energy.problem
        assert (energy.current_unit, energy.discharge_sign) == (unit, sign)
        assert energy.rate_hz > 0  # the rate achieved is a benchmark's figure (docs/performance.md)
        first, last = energy.samples[0][0], energy.samples[-1][0]
        exact = battery.served_joules(first, last)
        assert math.isclose(energy.joules, exact, rel_tol=TOLERANCE), (energy.joules, exact)
        # under load the phone drew well above its idle current
        loaded_amps = (battery.idle_ma + battery.load_ma / 2) / 1000
        assert energy.joules > loaded_amps * battery.volts * 0.9 * (last - first)
        assert energy.samples[-1][0] - energy.samples[0][0] > 2.0  # the whole run was sampled
        assert run.trace.cpus_allowed == "1"
    # per-token figures with their uncertainty, in the JSON report
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    for path in (out, md):
        assert bench("report", "--db", str(db), "-o", str(path))[0] == 0
    text = md.read_text()
    assert "| Energy per Token (mJ) " in text and "| Tokens per Joule " in text
    assert "divided by the generated tokens" in text  # what the figure includes is said
    assert f"Energy measured in 2 of 2 runs (battery, current in {unit}" in text
    (c,) = json.loads(out.read_text())["configurations"]
    mj = c["energy"]["mj_per_token"]
    assert mj["n"] == 2 and mj["ci95"][0] <= mj["mean"] <= mj["ci95"][1]
    joules = [r.trace.energy.joules for r in config.records]
    assert mj["mean"] == pytest.approx(sum(j * 1000 / 16 for j in joules) / 2)
    assert c["energy"]["tokens_per_joule"]["mean"] == pytest.approx(sum(16 / j for j in joules) / 2)
    assert c["cores"] == [1]


@pytest.mark.parametrize(
    ("battery", "expected"),
    [
        (Battery(charging=True), "is charging"),
        (Battery(current_readable=False), "has no readable battery current"),
    ],
    ids=["charging", "no-current"],
)
def test_energy_that_cannot_be_measured_is_refused_in_one_line(
    attach, tmp_path, battery, expected
) -> None:
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS, battery=battery)))
    db = tmp_path / "r.db"
    assert bench(*run_args(phone, db, "--campaign", "kept", "--runs", "1"))[0] == 0
    code, said = bench(*run_args(phone, db, "--campaign", "kept", "--energy"))
    assert code == ExitCode.SETUP
    (line,) = said
    assert expected in line and "\n" not in line
    if battery.charging:
        assert "adb tcpip" in line  # how to measure unplugged
    (config,) = configs(db)
    assert config.n_ok == 1


@pytest.mark.parametrize(
    ("battery", "expected"),
    [
        (Battery(stops_after_s=0.2), "the energy samples stopped"),
        (Battery(plugs_in_after_s=0.2), "the battery was charging"),
    ],
    ids=["samples-stop", "plugged-in-mid-run"],
)
def test_runs_whose_energy_went_wrong_keep_their_speed_and_say_why(
    attach, tmp_path, capsys, battery, expected
) -> None:
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS, battery=battery)))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--energy", "--runs", "1"), backend=busy())
    assert code == 0, said
    (config,) = configs(db)
    (run,) = config.records
    assert run.ok and run.trace.energy.joules is None
    assert expected in run.trace.energy.problem
    assert run.trace.energy.samples  # the raw samples are stored all the same
    err = capsys.readouterr().err
    assert f"run 1: energy not counted: {expected}" in err
    assert "mj_per_token" not in config.summaries


def test_a_study_compares_placements_and_words_energy(attach, tmp_path) -> None:
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS)))
    study = tmp_path / "placement.toml"
    study.write_text(
        f"""
name = "placement"
models = ["m"]
devices = ["{phone.spec}"]
cores = ["big", "all"]
energy = true
runs = 2
warmup = 0

[[framework]]
backend = "fake"
quants = ["baseline"]
""",
        encoding="utf-8",
    )
    db, md = tmp_path / "r.db", tmp_path / "findings.md"
    args = ("study", str(study), "--db", str(db), "-o", str(md), "--cooldown", "off")
    code, said = bench(*args, backend=busy())
    assert code == 0, said
    assert {c.workload.placement for c in configs(db)} == {"big", "all"}
    text = md.read_text(encoding="utf-8")
    assert "fake Baseline, cores big" in text and "fake Baseline, cores all" in text
    assert "Least energy per generated token: fake Baseline, cores " in text
    assert "mJ/token, 95% CI" in text and "tokens/J" in text
    # rewritten from the store alone, without the phone, the findings still find both
    again = tmp_path / "again.md"
    no_run = ("study", str(study), "--db", str(db), "--no-run", "-o", str(again))
    assert bench(*no_run)[0] == 0
    assert "Least energy per generated token" in again.read_text(encoding="utf-8")


@pytest.mark.slow
def test_bench_cores_big_energy_with_llamacpp_on_the_phone(attach, server, tmp_path) -> None:
    """The issue's command line, with the real llama.cpp runtime and the real `bench` script."""
    from pocketbench.backends.llamacpp import build
    from pocketbench.testing.cli import run_bench

    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS)))
    args = (
        "--backend", "llamacpp", "--quant", "q4_0", "--model", "stories110m",
        "--device", f"adb:{phone.serial}", "--llamacpp-bin", str(build.ensure_built()),
        "--runs", "2", "--prompt-tokens", "16", "--gen-tokens", "256", "--cooldown", "off",
        "--cores", "big", "--energy",
    )  # fmt: skip
    env = {"ANDROID_ADB_SERVER_PORT": str(server.port)}
    done = run_bench(*args, cwd=tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "Energy per Token (mJ)" in done.stdout and "Tokens per Joule" in done.stdout
    (config,) = configs(tmp_path / "pocketbench.db")
    for run in config.records:
        assert run.trace.cpus_allowed == "1" and run.trace.energy.ok
        argv = run.result.argv
        # llama.cpp's own placement flags, since this build's --help lists them
        assert argv[argv.index("--cpu-mask") + 1] == "2" and "--cpu-strict" in argv
    assert config.summaries["mj_per_token"].n == 2
