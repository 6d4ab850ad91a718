"""Energy split into prompt and generation, and per-rail energy, on the loopback phone.

Through the real adb server.  The phone's battery draws ``phase_ma`` more
while the runtime says it evaluates the prompt, so a split placed at the
wrong time gives the wrong energy to each phase.  The runtime prints
ExecuTorch's PyTorchObserver line (wall-clock epoch ms) and is parsed by the
ExecuTorch backend's own parser; the test places those timestamps on the
phone's boot clock with an offset it measures itself, in-process on the same
host, and integrates exactly what the gauge served over each phase.
Tolerance: 5% per phase (the trapezoid rule at ~5 samples/s across a load
step, and the 10 ms resolution of /proc/uptime at each phase boundary).

The power rails answer ``dumpsys`` of the power-stats HAL in the HAL's own
format; a rail that only draws under load must gain its power times the
time the run was in progress, within 1% plus what the fixture's own longest
pause between rewrites of the counters (4 ms when idle) allows at each dump.
"""

from __future__ import annotations

import json
import math
import time

import pytest

from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.results.energy import phase_joules
from pocketbench.testing.backends import FakeBackend
from pocketbench.testing.phone.adbd import Fixture
from pocketbench.testing.phone.adbhardware import Battery, Hardware, Rail, boottime

from .test_phone_energy import busy
from .test_phone_placement import TWO_CLUSTERS, bench, configs, run_args

pytestmark = pytest.mark.adb

PROMPT_TOKENS, GEN_TOKENS = 16, 33
#: A runtime that loads for 0.3 s, evaluates the prompt for 1.2 s and generates for 1.6 s,
#: telling the phone its phase, then prints ExecuTorch's observer line with its own timestamps.
PHASED = f"""
import json, pathlib, time
ph = pathlib.Path('.phase')
time.sleep(0.3)
ph.write_text('prompt'); t0 = time.time()
while time.time() - t0 < 1.2: pass
ph.write_text('gen'); t1 = time.time()
while time.time() - t1 < 1.6: pass
t2 = time.time(); ph.unlink()
ms = lambda t: int(t * 1000)
print('PyTorchObserver ' + json.dumps({{
    'prompt_tokens': {PROMPT_TOKENS}, 'generated_tokens': {GEN_TOKENS - 1},
    'model_load_start_ms': ms(t0) - 300, 'model_load_end_ms': ms(t0),
    'inference_start_ms': ms(t0), 'prompt_eval_end_ms': ms(t1), 'first_token_ms': ms(t1),
    'inference_end_ms': ms(t2), 'SCALING_FACTOR_UNITS_PER_SECOND': 1000}}))
"""
TOLERANCE = 0.05


class ObserverBackend(FakeBackend):
    """The fake runtime, read by the ExecuTorch backend's parser."""

    @hookimpl
    def pocketbench_parse(self, job, prepared, result):
        from pocketbench.backends.executorch.parse import metrics_for

        return metrics_for(job.workload, result)


def test_prompt_and_generation_energy_match_the_waveform_in_each_phase(attach, tmp_path) -> None:
    battery = Battery(phase_ma={"prompt": 900.0})
    phone = attach(Fixture(hardware=Hardware(max_freqs_khz=TWO_CLUSTERS, battery=battery)))
    db = tmp_path / "r.db"
    tokens = ("--prompt-tokens", str(PROMPT_TOKENS), "--gen-tokens", str(GEN_TOKENS))
    code, said = bench(
        *run_args(phone, db, "--energy", *tokens), backend=ObserverBackend(scripts=[PHASED])
    )
    assert code == 0, said
    # The phone's wall clock minus its boot clock, read here in one process on the same host.
    offset = time.time() - boottime()
    (config,) = configs(db)
    for run in config.records:
        energy = run.trace.energy
        assert energy.ok, energy.problem
        assert energy.clock_offset_s == pytest.approx(offset, abs=0.05)
        start, p_end, end = (ms / 1000 - offset for ms in run.metrics.phases_epoch_ms)
        prompt_j, gen_j = phase_joules(run)
        assert math.isclose(prompt_j, battery.served_joules(start, p_end), rel_tol=TOLERANCE)
        assert math.isclose(gen_j, battery.served_joules(p_end, end), rel_tol=TOLERANCE)
        # the prompt phase drew the extra 900 mA: well more power than generation
        assert prompt_j / (p_end - start) > 1.5 * gen_j / (end - p_end)
        assert prompt_j + gen_j < energy.joules  # loading and the run's edges are outside both
        assert energy.samples and len(energy.clock_readings) == 2  # raw readings stay stored
    out, md, html = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.html"
    for path in (out, md, html):
        assert bench("report", "--db", str(db), "-o", str(path))[0] == 0
    page = html.read_text()
    assert "Prompt Energy per Prompt Token (mJ)" in page
    assert "Generation Energy per Generated Token (mJ)" in page
    text = md.read_text()
    assert "| Prompt Energy per Prompt Token (mJ) " in text
    assert "| Generation Energy per Generated Token (mJ) " in text
    assert "divided by the prompt tokens and by the decode steps" in text
    assert "placed on the sample clock within ±" in text
    (c,) = json.loads(out.read_text())["configurations"]
    splits = [phase_joules(r) for r in config.records]
    prompt = c["energy"]["prompt_mj_per_token"]
    assert prompt["n"] == 2
    assert prompt["mean"] == pytest.approx(sum(p * 1000 / PROMPT_TOKENS for p, _ in splits) / 2)
    gen = c["energy"]["generation_mj_per_token"]
    assert gen["mean"] == pytest.approx(sum(g * 1000 / (GEN_TOKENS - 1) for _, g in splits) / 2)
    assert c["energy"]["split_unavailable"] is None


CPU_BIG = Rail("S4M_VDD_CPUCL2", "CPU(BIG)", idle_mw=0.0, load_mw=1500.0)
DISPLAY = Rail("VSYS_PWR_DISPLAY", "Display", idle_mw=400.0)


def test_per_rail_energy_from_the_power_stats_hal(attach, tmp_path) -> None:
    hardware = Hardware(max_freqs_khz=TWO_CLUSTERS, rails=(CPU_BIG, DISPLAY))
    phone = attach(Fixture(hardware=hardware))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--energy"), backend=busy())
    assert code == 0, said
    (config,) = configs(db)
    assert len(hardware.loads) == 2  # one stretch under load per run
    for run, (a, b) in zip(config.records, hardware.loads):
        energy = run.trace.energy
        assert energy.ok and energy.rails_problem is None
        rails = energy.rails
        assert set(rails) == {"[S4M_VDD_CPUCL2]:CPU(BIG)", "[VSYS_PWR_DISPLAY]:Display"}
        for name, (before, after) in energy.rail_counters_mws.items():  # raw counters kept
            assert rails[name] == pytest.approx((after - before) / 1000)
        # The CPU rail gains its load power for the time the run was in progress; a counter
        # the phone served can be one rewrite stale at each dump (the fixture's own pauses).
        stale = 2 * hardware.max_tick_gap_s
        cpu = rails["[S4M_VDD_CPUCL2]:CPU(BIG)"]
        assert abs(cpu - 1.5 * (b - a)) <= 1.5 * stale + 0.01 * cpu, (cpu, b - a, stale)
        # the display draws all the time: at least over the sampled run, at most a little beyond
        span = energy.samples[-1][0] - energy.samples[0][0]
        display = rails["[VSYS_PWR_DISPLAY]:Display"]
        assert 0.4 * (span - stale) <= display <= 0.4 * (span + 2.0 + stale), (display, span)
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    for path in (out, md):
        assert bench("report", "--db", str(db), "-o", str(path))[0] == 0
    text = md.read_text().replace("\\", "")  # markdown escapes [ ] and _
    assert "Per-rail energy per run (the phone's power monitors, ODPM): [S4M_VDD_CPUCL2]" in text
    # the runtime prints durations only (llama.cpp-like): no split, and the report says so
    assert "Prompt/generation energy split not available: the runtime prints phase" in text
    assert "Prompt Energy per Prompt Token" not in text
    (c,) = json.loads(out.read_text())["configurations"]
    cpu = c["energy"]["rails_j"]["[S4M_VDD_CPUCL2]:CPU(BIG)"]
    assert cpu["n"] == 2
    mean = sum(r.trace.energy.rails["[S4M_VDD_CPUCL2]:CPU(BIG)"] for r in config.records) / 2
    assert cpu["mean"] == pytest.approx(mean)
    assert c["energy"]["prompt_mj_per_token"] is None
    assert c["energy"]["split_unavailable"].startswith("the runtime prints phase durations")


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        (None, "Can't find service: android.hardware.power.stats.IPowerStats/default"),
        ("Permission Denial: can't dump PowerStats from pid=4242, uid=2000", "Permission Denial"),
    ],
    ids=["missing", "refused"],
)
def test_rails_not_available_is_one_line_and_battery_energy_still_counts(
    attach, tmp_path, capsys, refusal, expected
) -> None:
    hardware = Hardware(max_freqs_khz=TWO_CLUSTERS, rails_refusal=refusal)
    phone = attach(Fixture(hardware=hardware))
    db = tmp_path / "r.db"
    code, said = bench(*run_args(phone, db, "--energy", "--runs", "1"), backend=busy())
    assert code == 0, said
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "per-rail energy" in ln]
    (line,) = lines
    assert "per-rail energy not available on this phone" in line and expected in line
    (config,) = configs(db)
    (run,) = config.records
    assert run.trace.energy.ok and run.trace.energy.rails == {}
    md = tmp_path / "r.md"
    assert bench("report", "--db", str(db), "-o", str(md))[0] == 0
    assert "Per-rail energy not available on this phone" in md.read_text().replace("\\", "")


def test_the_findings_word_energy_by_phase_and_per_rail(attach, tmp_path) -> None:
    battery = Battery(phase_ma={"prompt": 900.0})
    hardware = Hardware(max_freqs_khz=TWO_CLUSTERS, battery=battery, rails=(CPU_BIG,))
    phone = attach(Fixture(hardware=hardware))
    study = tmp_path / "phases.toml"
    study.write_text(
        f'name = "phases"\nmodels = ["m"]\ndevices = ["{phone.spec}"]\nenergy = true\n'
        f"runs = 2\nwarmup = 0\n[workload]\nprompt_tokens = {PROMPT_TOKENS}\n"
        f'gen_tokens = {GEN_TOKENS}\n[[framework]]\nbackend = "fake"\nquants = ["baseline"]\n',
        encoding="utf-8",
    )
    db, md = tmp_path / "r.db", tmp_path / "findings.md"
    args = ("study", str(study), "--db", str(db), "-o", str(md), "--cooldown", "off")
    code, said = bench(*args, backend=ObserverBackend(scripts=[PHASED]))
    assert code == 0, said
    text = md.read_text(encoding="utf-8").replace("\\", "")
    (config,) = configs(db)
    prompt = config.summaries["prompt_mj_per_token"].mean
    assert f"Energy by phase: fake Baseline {prompt:.2f} mJ per prompt token and " in text
    assert "Per-rail energy per run: fake Baseline: [S4M_VDD_CPUCL2]:CPU(BIG) " in text
    assert "divided by the prompt tokens and by the decode steps" in text
