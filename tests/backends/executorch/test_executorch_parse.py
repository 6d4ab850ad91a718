"""The parser against captured runner output and llama_main-style phone output."""

from __future__ import annotations

import json

import pytest

from pocketbench.backends.executorch.parse import RunnerReport, metrics_for
from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.model import ProcessResult, Workload

from .conftest import DATA


def read(name: str) -> str:
    return (DATA / name).read_text()


def observer(text: str) -> dict:
    line = next(ln for ln in text.splitlines() if "PyTorchObserver" in ln)
    return json.loads(line.split("PyTorchObserver", 1)[1])


def result(stdout: str, stderr: str = "", rss: int | None = None) -> ProcessResult:
    return ProcessResult(
        argv=("llama_main",),
        stdout=stdout,
        stderr=stderr,
        exit_code=0,
        wall_s=1.0,
        peak_rss_bytes=rss,
    )


#: The fixtures' runs: 64 prompt tokens, 65 new tokens (the runner reports 64 decode steps).
W64 = Workload(prompt_tokens=64, gen_tokens=65, threads=2)


def test_captured_local_runner_output() -> None:
    out = read("runner_tiny_baseline_p64_g64.stdout")
    err = read("runner_tiny_baseline_p64_g64.stderr")
    data = observer(out)
    m = metrics_for(W64, result(out, err, rss=400_000_000))
    start, p_end, end = (
        data["inference_start_ms"],
        data["prompt_eval_end_ms"],
        data["inference_end_ms"],
    )
    assert (m.prompt_tokens, m.gen_tokens) == (64, 65)
    assert m.prompt_tps == pytest.approx(64 / ((p_end - start) / 1000))
    assert m.generation_tps == pytest.approx(64 / ((end - p_end) / 1000))
    assert m.total_tps == pytest.approx((64 + 65) / ((end - start) / 1000))
    # The runner's own "Total inference time ... Rate": generated tokens only.
    assert m.extra["runner_total_rate"] == pytest.approx(64 / ((end - start) / 1000))
    assert m.load_ms == data["model_load_end_ms"] - data["model_load_start_ms"]
    assert m.ttft_ms == data["first_token_ms"] - start
    assert m.peak_rss_bytes == 400_000_000  # the device's measure wins over the runner's log
    assert m.extra["rss_before_load_mib"] > 0


def test_phone_llama_main_v1() -> None:
    out, err = read("llama_main_v1_p64_g64.stdout"), read("llama_main_v1_p64_g64.stderr")
    m = metrics_for(W64, result(out, err))
    assert m.prompt_tps == pytest.approx(64 / 0.412)
    assert m.generation_tps == pytest.approx(64 / 2.608)
    assert m.total_tps == pytest.approx((64 + 65) / 3.020)
    assert m.extra["runner_total_rate"] == pytest.approx(64 / 3.020)
    assert m.load_ms == pytest.approx(1204)
    assert m.ttft_ms == pytest.approx(412)
    # No RSS from the device: the runner's largest "RSS after ..." line.
    assert m.peak_rss_bytes == int(1263.078125 * 2**20)


def test_stats_block_alone_gives_the_same_figures() -> None:
    out, err = read("llama_main_v1_p64_g64.stdout"), read("llama_main_v1_p64_g64.stderr")
    from_json = RunnerReport.from_output(out, err)
    no_json = "\n".join(ln for ln in out.splitlines() if "PyTorchObserver" not in ln)
    from_block = RunnerReport.from_output(no_json, err)
    assert (from_json.source, from_block.source) == ("observer", "stats")
    a = from_json.to_metrics(prompt_tokens=64, gen_tokens=65)
    b = from_block.to_metrics(prompt_tokens=64, gen_tokens=65)
    for name in ("prompt_tps", "generation_tps", "total_tps", "load_ms", "ttft_ms"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-5), name
    assert a.extra["runner_total_rate"] == pytest.approx(b.extra["runner_total_rate"], rel=1e-5)


def test_old_llama_main_through_a_pty_crlf_and_short_json() -> None:
    text = read("llama_main_v04_adb_v1_p64_g64.txt")
    m = metrics_for(W64, result(text))
    assert m.generation_tps == pytest.approx(64 / 2.608)
    assert m.extra["runner_total_rate"] == pytest.approx(64 / 3.020)
    assert m.peak_rss_bytes == int(1262.328125 * 2**20)


def test_json_only_when_the_log_goes_to_logcat() -> None:
    out = read("llama_main_v1_p64_g64.stdout")
    m = metrics_for(W64, result(out))
    assert m.prompt_tps == pytest.approx(64 / 0.412)
    assert m.peak_rss_bytes is None


def test_broken_json_falls_back_to_the_block() -> None:
    out, err = read("llama_main_v1_p64_g64.stdout"), read("llama_main_v1_p64_g64.stderr")
    out = out.replace('"prompt_tokens":64,', '"prompt_tokens":')
    report = RunnerReport.from_output(out, err)
    assert report.source == "stats"


def test_no_stats_is_one_line() -> None:
    with pytest.raises(ParseError) as info:
        metrics_for(
            W64, result("Segmentation fault\n", "[program.cpp:114] File size is too small.")
        )
    assert "no PyTorchObserver line and no stats block" in str(info.value)
    assert "\n" not in str(info.value)


def test_token_count_mismatch() -> None:
    out, err = read("llama_main_v1_p64_g64.stdout"), read("llama_main_v1_p64_g64.stderr")
    with pytest.raises(
        ParseError,
        match=r"made 65 new ones \(64 decode steps\), but the workload asked for 64 and 100",
    ):
        metrics_for(Workload(prompt_tokens=64, gen_tokens=100), result(out, err))
    with pytest.raises(ParseError, match="stopped early"):
        metrics_for(Workload(prompt_tokens=64, gen_tokens=100), result(out, err))
    with pytest.raises(ParseError, match="asked for 32 and 65"):
        metrics_for(Workload(prompt_tokens=32, gen_tokens=65), result(out, err))
    with pytest.raises(ParseError, match="asked for 64 and 64"):
        metrics_for(Workload(prompt_tokens=64, gen_tokens=64), result(out, err))


def test_below_clock_resolution() -> None:
    data = {
        "prompt_tokens": 4,
        "generated_tokens": 2,
        "inference_start_ms": 10,
        "prompt_eval_end_ms": 10,
        "inference_end_ms": 11,
    }
    report = RunnerReport.from_observer_json(data)
    with pytest.raises(ParseError, match="1 ms clock"):
        report.to_metrics(prompt_tokens=4, gen_tokens=3)


def test_observer_json_needs_its_keys() -> None:
    with pytest.raises(ParseError, match="lacks inference_start_ms"):
        RunnerReport.from_observer_json(
            {
                "prompt_tokens": 1,
                "generated_tokens": 1,
                "inference_end_ms": 2,
                "prompt_eval_end_ms": 1,
            }
        )
