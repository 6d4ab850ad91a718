"""llama.cpp formats bench import reads: every llama-bench -o format and every timing printer.

The files are in data/import (data/README.md says which were captured from
the tools built here and which were reconstructed from llama.cpp's printers).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pocketbench.backends.llamacpp import importers
from pocketbench.backends.llamacpp.parse import RunTimings
from pocketbench.core.api.errors import ParseError
from pocketbench.core.api.imported import ImportFormatError

IMPORT = Path(__file__).resolve().parent / "data" / "import"
CAPTURED = "bench_tiny_q4_0_p32_g16_d0-32"


def read(name: str) -> importers.ImportedResults:
    text = (IMPORT / name).read_text(encoding="utf-8")
    result = importers.read(name, text)
    assert result is not None, name
    return result


def json_rows(name: str) -> list[dict]:
    return json.loads((IMPORT / name).read_text())


# -- llama-bench ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_samples_become_runs(fmt: str) -> None:
    result = read(f"{CAPTURED}.{fmt}")
    assert result.format == f"llama-bench {fmt}"
    rows = json_rows(f"{CAPTURED}.json") if fmt == "json" else None
    if rows is None:
        lines = (IMPORT / f"{CAPTURED}.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    # pp32 + tg16 at depth 0, and again at depth 32: two configurations.
    assert [c.options.get("tg_depth") for c in result.configs] == ["0", "32"]
    for config in result.configs:
        depth = int(config.options["tg_depth"])
        pp = next(r for r in rows if r["n_prompt"] and r["n_depth"] == depth)
        tg = next(r for r in rows if r["n_gen"] and r["n_depth"] == depth)
        assert (config.prompt_tokens, config.gen_tokens, config.threads) == (32, 16, 2)
        assert config.quant == "q4_0" and config.model.endswith("Q4_0-0c1e57098.gguf")
        assert [r.metrics.prompt_tps for r in config.runs] == pp["samples_ts"]
        assert [r.metrics.generation_tps for r in config.runs] == tg["samples_ts"]
        for run, p, g in zip(config.runs, pp["samples_ts"], tg["samples_ts"]):
            assert run.metrics.total_tps == pytest.approx(48 / (32 / p + 16 / g))
        assert config.describe["build_commit"] == "0c1e57098"
        assert config.facts is not None and config.facts.soc == pp["cpu_info"]
        assert not config.summaries
    # Generation from an empty context is not what a pocketbench run measures: said so.
    assert "from an empty context" in result.configs[0].describe["pairing"]


@pytest.mark.parametrize("fmt", ["md", "csv", "sql"])
def test_summaries_stay_summaries(fmt: str) -> None:
    result = read(f"{CAPTURED}.{fmt}")
    assert result.format == f"llama-bench {fmt}"
    assert len(result.configs) == 2
    text = (IMPORT / f"{CAPTURED}.{fmt}").read_text()
    for config in result.configs:
        assert config.runs == ()  # no invented samples
        assert {s.metric for s in config.summaries} == {"prompt_tps", "generation_tps"}
        for s in config.summaries:
            assert s.n == 0  # the file does not say how many repetitions
            # Every mean and sd is in the file as printed (md rounds to 2 decimals).
            assert f"{s.mean:.2f}" in text or f"{s.mean:f}" in text
            assert f"{s.stdev:.2f}" in text or f"{s.stdev:f}" in text


def test_combined_pg_test_is_a_total_rate() -> None:
    (config,) = read("bench_tiny_q4_0_pg32-16.json").configs
    (row,) = json_rows("bench_tiny_q4_0_pg32-16.json")
    assert (config.prompt_tokens, config.gen_tokens) == (32, 16)
    assert [r.metrics.total_tps for r in config.runs] == row["samples_ts"]
    assert all(math.isnan(r.metrics.prompt_tps) for r in config.runs)


def test_early_2024_markdown_with_spaced_test_names() -> None:
    (config,) = read("bench_2024-01_phone.md").configs
    assert (config.prompt_tokens, config.gen_tokens, config.threads) == (512, 128, 4)
    assert config.quant == "q4_0"  # "mostly Q4_0"
    assert config.describe["build_commit"] == "8504d2d0"
    means = {s.metric: (s.mean, s.stdev) for s in config.summaries}
    assert means == {"prompt_tps": (58.42, 1.37), "generation_tps": (17.86, 0.21)}


def test_early_2024_json_on_a_phone() -> None:
    (config,) = read("bench_2024-01_phone.json").configs
    rows = json_rows("bench_2024-01_phone.json")
    assert [r.metrics.prompt_tps for r in config.runs] == rows[0]["samples_ts"]
    assert config.facts.soc == "ARMv8 Processor rev 0 (v8l)"


def test_samples_ns_only_uses_the_tools_own_formula() -> None:
    (config,) = read("bench_2023-09_samples_ns_only.json").configs
    rows = json_rows("bench_2023-09_samples_ns_only.json")
    expected = [1e9 * 64 / ns for ns in rows[0]["samples_ns"]]
    assert [r.metrics.prompt_tps for r in config.runs] == pytest.approx(expected)


def test_an_impossible_sample_is_a_failed_run_naming_the_field() -> None:
    (config,) = read("bench_negative_sample.json").configs
    bad = [r for r in config.runs if r.metrics is None]
    assert len(bad) == 1 and len(config.runs) == 5
    assert "samples_ts[1] of pp64 = -56.1464 is impossible" in bad[0].error


def test_truncated_json_names_the_line() -> None:
    with pytest.raises(ImportFormatError, match="truncated JSON") as err:
        read("bench_2024-01_phone_truncated.json")
    assert err.value.line == len(
        (IMPORT / "bench_2024-01_phone_truncated.json").read_text().splitlines()
    )


# -- logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "style", "prompt", "gen", "threads", "quant"),
    [
        ("perf_print_2024-09_interleaved.txt", "llama_perf_print", 6, 32, 4, "q4_0"),
        ("timings_2023-11_de_DE_decimal_comma.txt", "llama_print_timings", 24, 32, 4, "q4_0"),
        ("timings_2025_logcat_tabs.txt", "llama_perf_context_print", 64, 32, 4, "q4_0"),
    ],
)
def test_historical_logs(
    name: str, style: str, prompt: int, gen: int, threads: int, quant: str
) -> None:
    result = read(name)
    assert result.format == "llama.cpp log"
    (config,) = result.configs
    (run,) = config.runs
    assert run.error is None
    assert (config.prompt_tokens, config.gen_tokens, config.threads) == (prompt, gen, threads)
    assert config.quant == quant
    t = RunTimings.from_log((IMPORT / name).read_text())
    assert t.style == style
    # The rates are the tool's own (printed on the same lines, rounded to 2 decimals).
    text = (IMPORT / name).read_text().replace(",", ".")
    assert f"{run.metrics.prompt_tps:.2f}" in text
    assert f"{run.metrics.generation_tps:.2f}" in text


def test_llama_simple_log_without_threads() -> None:
    # llama-simple prints no system_info line: the thread count is not in the file.
    (config,) = read("simple_2025_galaxy_a25.txt").configs
    assert (config.prompt_tokens, config.gen_tokens, config.threads) == (16, 32, None)
    assert config.model == "Llama-3.2-1B-Instruct-Q4_0.gguf" and config.quant == "q4_0"
    assert config.runs[0].metrics.generation_tps == pytest.approx(31 / 2.17526)


def test_decimal_comma_figures() -> None:
    t = RunTimings.from_log((IMPORT / "timings_2023-11_de_DE_decimal_comma.txt").read_text())
    assert (t.prompt_ms, t.eval_ms, t.sampling_ms, t.load_ms) == (285.92, 4915.67, 11.58, 812.33)


def test_several_runs_in_one_log(data: Path) -> None:
    (config,) = read("completion_three_runs.stderr").configs
    single = RunTimings.from_log((data / "completion_tiny_q4_0_p64_g64.stderr").read_text())
    assert len(config.runs) == 3
    assert {r.metrics.generation_tps for r in config.runs} == {
        single.eval_runs * 1000 / single.eval_ms
    }
    assert [r.line for r in config.runs] == sorted({r.line for r in config.runs})


def test_impossible_values_fail_the_run_naming_the_field() -> None:
    (config,) = read("timings_impossible_sampling.txt").configs
    (run,) = config.runs
    assert run.metrics is None
    assert "sampling time 9120.4 ms is longer than the whole run" in run.error
    (config,) = read("perf_print_2024-09_embedding_zero_eval.txt").configs
    assert "eval time = 0 ms" in config.runs[0].error


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            "prompt eval time = -5.00 ms / 8 tokens\nx: eval time = 10.0 ms / 3 runs",
            "prompt eval time = -5",
        ),
        (
            "prompt eval time = 5.00 ms / 8 tokens\nx: eval time = inf ms / 3 runs",
            "eval time = inf",
        ),
        (
            "prompt eval time = 5.00 ms / 8 tokens\nx: eval time = 10.0 ms / 3 runs\nx: total time = 20.0 ms / 99 tokens",
            "contradict",
        ),
    ],
)
def test_impossible_timing_values(text: str, field: str) -> None:
    text = "llama_perf_context_print: " + text.replace("x:", "llama_perf_context_print:")
    t = RunTimings.from_log(text)
    with pytest.raises(ParseError, match=field):
        t.to_metrics(prompt_tokens=8, gen_tokens=4)


def test_two_models_in_one_log_are_refused_at_the_second() -> None:
    with pytest.raises(ImportFormatError, match="two models in one log") as err:
        read("two_models.txt")
    assert err.value.line == 4


def test_a_llama_log_without_timing_lines_is_refused() -> None:
    with pytest.raises(ImportFormatError, match="no llama.cpp timing lines"):
        read("loader_without_timings.txt")


def test_other_text_is_not_ours() -> None:
    assert importers.read("x", (IMPORT / "unknown.txt").read_text()) is None
