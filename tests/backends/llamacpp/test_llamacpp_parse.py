"""Parsers against captured llama.cpp output, current and older formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.backends.llamacpp.parse import (
    RunTimings,
    ToolVersion,
    bench_figures,
    token_ids,
)
from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.model import Metrics


@pytest.mark.parametrize("scheme", ["baseline", "q8_0", "q4_0"])
def test_current_completion_output(data: Path, scheme: str) -> None:
    text = (data / f"completion_tiny_{scheme}_p64_g64.stderr").read_text()
    t = RunTimings.from_log(text)
    assert t.style == "common_perf_print"
    assert (t.prompt_tokens, t.eval_runs, t.generated_tokens) == (64, 63, 64)
    m = t.to_metrics(prompt_tokens=64, gen_tokens=64, peak_rss_bytes=123)
    assert m.prompt_tps == pytest.approx(64_000 / t.prompt_ms)
    assert m.generation_tps == pytest.approx(63_000 / t.eval_ms)
    assert m.total_tps == pytest.approx(
        Metrics.total_rate(64, 64, t.prompt_ms / 1000, t.eval_ms / 1000)
    )
    assert m.load_ms == t.load_ms and m.load_ms is not None
    # TTFT excludes load: prompt eval plus one token's share of sampling.
    assert t.prompt_ms <= m.ttft_ms < t.prompt_ms + (t.sampling_ms or 0) + 1e-9
    assert m.peak_rss_bytes == 123


def test_generated_text_on_stdout_is_not_needed(data: Path) -> None:
    # The timing lines are on stderr; stdout holds only generated text.
    stdout = (data / "completion_tiny_q4_0_p64_g64.stdout").read_text(errors="replace")
    with pytest.raises(ParseError):
        RunTimings.from_log(stdout)


def test_llama_print_timings_late_2023(data: Path) -> None:
    t = RunTimings.from_log((data / "main_llama_print_timings_2023-11.txt").read_text())
    assert t.style == "llama_print_timings"
    assert (t.prompt_ms, t.prompt_tokens, t.eval_ms, t.eval_runs) == (587.20, 64, 4915.67, 63)
    assert (t.load_ms, t.sampling_ms, t.total_ms) == (812.33, 11.58, 5537.91)
    m = t.to_metrics(prompt_tokens=64, gen_tokens=64)
    assert m.prompt_tps == pytest.approx(108.99, abs=0.01)  # the tool's own figure
    assert m.generation_tps == pytest.approx(12.82, abs=0.01)


def test_llama_print_timings_mid_2023_without_rates(data: Path) -> None:
    t = RunTimings.from_log((data / "main_llama_print_timings_2023-06.txt").read_text())
    assert (t.prompt_tokens, t.eval_runs) == (24, 31)
    m = t.to_metrics(prompt_tokens=24, gen_tokens=32)
    assert m.prompt_tps == pytest.approx(24 / 0.92578)
    assert m.generation_tps == pytest.approx(31 / 4.17832)


def test_llama_perf_context_print_late_2024(data: Path) -> None:
    t = RunTimings.from_log((data / "cli_llama_perf_context_print_2024-12.txt").read_text())
    assert t.style == "llama_perf_context_print"
    assert (t.prompt_tokens, t.eval_runs, t.sampling_ms) == (64, 63, 9.86)
    m = t.to_metrics(prompt_tokens=64, gen_tokens=64)
    assert m.generation_tps == pytest.approx(13.40, abs=0.01)


def test_format_before_prompt_eval_timing_is_refused(data: Path) -> None:
    with pytest.raises(ParseError, match="without separate prompt eval"):
        RunTimings.from_log((data / "main_timings_2023-03_no_prompt_eval.txt").read_text())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "Segmentation fault (core dumped)\n",
        "\x00\xff garbage \x1b[31m",
        "common_perf_print: prompt eval time = \n",
        # Truncated in the middle of the block: eval line missing.
        "llama_perf_context_print: prompt eval time =  5.0 ms /  8 tokens\n",
    ],
)
def test_output_without_timings_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        RunTimings.from_log(text)


def test_parse_error_names_the_last_line() -> None:
    with pytest.raises(ParseError, match="error loading model"):
        RunTimings.from_log("main: loading\nllama_model_load: error loading model\n")


def test_lost_timing_lines_are_a_parse_error(data: Path) -> None:
    with pytest.raises(ParseError, match="no llama.cpp timing lines"):
        RunTimings.from_log((data / "completion_lost_timings.stderr").read_text())


@pytest.mark.parametrize(
    ("prompt", "gen", "match"),
    [(65, 64, "evaluated 64 prompt tokens, the workload asks for 65"), (64, 32, "generated 64")],
)
def test_counts_must_match_the_workload(data: Path, prompt: int, gen: int, match: str) -> None:
    t = RunTimings.from_log((data / "completion_tiny_baseline_p64_g64.stderr").read_text())
    with pytest.raises(ParseError, match=match):
        t.to_metrics(prompt_tokens=prompt, gen_tokens=gen)


def test_last_block_wins() -> None:
    block = "llama_print_timings: prompt eval time = {} ms / 8 tokens\nllama_print_timings:        eval time = 10.0 ms / 3 runs\n"
    t = RunTimings.from_log(block.format(100.0) + block.format(50.0))
    assert t.prompt_ms == 50.0


def test_llama_bench_json(data: Path) -> None:
    figures = bench_figures((data / "bench_tiny_q4_0_p64_g64.json").read_text())
    assert set(figures) == {
        "llamabench_pp_tps",
        "llamabench_pp_stddev_tps",
        "llamabench_tg_tps",
        "llamabench_tg_stddev_tps",
    }
    assert all(v >= 0 for v in figures.values())
    assert figures["llamabench_pp_tps"] > 0 and figures["llamabench_tg_tps"] > 0


@pytest.mark.parametrize("text", ["", "| model | size |\n", "[{oops", "[]", '[{"n_prompt": 1}]'])
def test_llama_bench_without_results(text: str) -> None:
    with pytest.raises(ParseError):
        bench_figures(text)


def test_versions(data: Path) -> None:
    v = ToolVersion.from_text((data / "completion_version.txt").read_text())
    assert (v.version, v.commit) == ("0.5.0-dev", "0c1e57098")
    assert "for Linux" in v.built_with
    old = ToolVersion.from_text("version: 3400 (97bdd26e)\nbuilt with cc (GCC) 13.2 for x86_64\n")
    assert (old.version, old.commit) == ("3400", "97bdd26e")
    with pytest.raises(ParseError):
        ToolVersion.from_text("error: unknown argument: --version")


def test_token_ids(data: Path) -> None:
    ids = token_ids((data / "tokenize_ids.txt").read_text())
    assert ids[0] == 1 and len(ids) > 1
    assert token_ids("[]\n") == []
    with pytest.raises(ParseError):
        token_ids("error: could not load model\n")
