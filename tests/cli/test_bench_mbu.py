"""`bench run` then `bench report --format json` on this host: MBU beside every configuration.

Real runtimes (llama.cpp built once into the cache; ExecuTorch's tiny export),
the real probe (small arrays: the suite sets POCKETBENCH_PROBE_MIB).
"""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

pytestmark = pytest.mark.slow

KEYS = {"bytes_per_token", "achieved_gbps", "device_gbps", "mbu", "ceiling_tps"}
SMALL = ("--runs", "2", "--warmup", "0", "--prompt-tokens", "16", "--gen-tokens", "16")


def bandwidth(run_bench) -> dict:  # noqa: ANN001
    r = run_bench("report", "--format", "json")
    assert r.returncode == 0, r.stderr
    (config,) = json.loads(r.stdout)["configurations"]
    assert config["metrics"]["generation_tps"]["n"] == 2  # the speed results are there either way
    return config["bandwidth"]


def check_complete(b: dict) -> None:
    assert set(b) >= KEYS
    assert set(b["mbu"]) == {"mean", "ci95"}
    for key in ("bytes_per_token", "achieved_gbps", "device_gbps", "ceiling_tps"):
        assert b[key] > 0, key
    # What a reader can redo: MBU is achieved over measured, the ceiling is measured over bytes.
    assert b["mbu"]["mean"] == pytest.approx(b["achieved_gbps"] / b["device_gbps"])
    assert b["ceiling_tps"] == pytest.approx(b["device_gbps"] * 1e9 / b["bytes_per_token"])
    low, high = b["mbu"]["ci95"]
    assert low is None or math.isinf(low) or low <= b["mbu"]["mean"] <= high


def test_llamacpp_on_this_host_reports_mbu(run_bench) -> None:  # noqa: ANN001
    r = run_bench("run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
                  *SMALL, "--cooldown", "off")  # fmt: skip
    assert r.returncode == 0, r.stderr
    # The only notes allowed are the probe policy's own: a cached figure from before this
    # campaign (or a busy one) is measured again, and a probe on a busy shared host says so.
    notes = [line for line in r.stderr.splitlines() if line.startswith("note:")]
    assert all(
        "bandwidth" in line and ("measured again" in line or "on a busy device" in line)
        for line in notes
    ), notes
    b = bandwidth(run_bench)
    check_complete(b)
    # The tiny model's decode step is a few MB: it sits in this host's last-level cache.
    assert b["verdict"] == "cache-resident" and b["probe"]["llc_bytes"] > 0
    md = run_bench("report", "--format", "markdown").stdout
    assert "# Memory bandwidth" in md and "| MBU (achieved / measured, 95% CI)" in md
    assert "cache-resident: MBU not meaningful" in md


@pytest.mark.executorch
@pytest.mark.skipif(
    importlib.util.find_spec("executorch") is None, reason="the executorch extra is not installed"
)
def test_executorch_on_this_host_reports_mbu(run_bench) -> None:  # noqa: ANN001
    r = run_bench("run", "--backend", "executorch", "--quant", "baseline", "--model", "tiny",
                  *SMALL, "--cooldown", "off")  # fmt: skip
    assert r.returncode == 0, r.stderr
    check_complete(bandwidth(run_bench))


def test_a_probe_that_cannot_run_costs_mbu_only(run_bench) -> None:  # noqa: ANN001
    r = run_bench("run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny", *SMALL,
                  "--cooldown", "off", "--remeasure-bandwidth", POCKETBENCH_PROBE_CC="false")  # fmt: skip
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line.startswith("note: cannot build")]
    assert len(notes) == 1 and "bandwidth probe" in notes[0]
    b = bandwidth(run_bench)
    assert b["bytes_per_token"] > 0 and b["achieved_gbps"] > 0
    assert b["device_gbps"] is None and b["mbu"] is None and b["ceiling_tps"] is None
    assert any("cannot build the bandwidth probe" in n for n in b["notes"])


def test_no_bandwidth_runs_no_probe(run_bench) -> None:  # noqa: ANN001
    r = run_bench("run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny", *SMALL,
                  "--cooldown", "off", "--no-bandwidth", POCKETBENCH_PROBE_CC="false")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "probe" not in r.stderr
    b = bandwidth(run_bench)
    assert b["bytes_per_token"] > 0 and b["device_gbps"] is None and b["notes"] == []
