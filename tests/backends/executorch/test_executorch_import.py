"""ExecuTorch formats bench import reads: llama_main logs in every layout, the benchmark app's JSON.

Files in data/import; data/README.md says how each was made.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from pocketbench.backends.executorch import importers
from pocketbench.core.api.imported import ImportedResults, ImportFormatError

DATA = Path(__file__).resolve().parent / "data"
IMPORT = DATA / "import"


def read(path: Path) -> ImportedResults:
    result = importers.read(path.name, path.read_text(encoding="utf-8", errors="replace"))
    assert result is not None, path
    return result


def observer(path: Path) -> dict:
    line = next(x for x in path.read_text().splitlines() if "PyTorchObserver" in x)
    return json.loads(line[line.index("{") :])


@pytest.mark.parametrize(
    "name",
    [
        "import/llama_main_v1_stats_then_observer.txt",  # stats block before the observer line
        "llama_main_v04_adb_v1_p64_g64.txt",  # observer first, CRLF, text running into log lines
    ],
)
def test_llama_main_logs(name: str) -> None:
    path = DATA / name
    result = read(path)
    assert result.format == "llama_main log"
    (config,) = result.configs
    (run,) = config.runs
    data = observer(path)
    assert (config.prompt_tokens, config.gen_tokens) == (
        data["prompt_tokens"],
        data["generated_tokens"] + 1,
    )
    assert config.threads == int(re.search(r"num threads = (\d+)", path.read_text())[1])
    decode_s = (data["inference_end_ms"] - data["prompt_eval_end_ms"]) / 1000
    assert run.metrics.generation_tps == pytest.approx(data["generated_tokens"] / decode_s)
    assert "PyTorchObserver" in run.source


def test_real_runner_output_three_generations() -> None:
    (config,) = read(IMPORT / "runner_three_runs.txt").configs
    assert len(config.runs) == 3 and all(r.error is None for r in config.runs)
    assert (config.prompt_tokens, config.gen_tokens) == (
        64,
        65,
    )  # 64 decode steps + the first token


def test_stats_blocks_without_prefix_or_observer_are_runs() -> None:
    path = IMPORT / "llama_main_stats_only_no_prefix.txt"
    (config,) = read(path).configs
    assert len(config.runs) == 2
    rates = [
        float(x) for x in re.findall(r"Generated 64 tokens:.*Rate:\s*([0-9.]+)", path.read_text())
    ]
    assert [r.metrics.generation_tps for r in config.runs] == pytest.approx(rates, rel=1e-5)
    assert config.quant == "spinquant"  # from the .pte's name
    assert config.model == "llama3_2_xnnpack_spinquant.pte"


def test_decimal_comma() -> None:
    (config,) = read(IMPORT / "llama_main_de_DE_decimal_comma.txt").configs
    (run,) = config.runs
    assert run.metrics.prompt_tps == pytest.approx(64 / 0.412)
    assert run.metrics.extra["runner_total_rate"] == pytest.approx(21.192053)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("llama_main_impossible_sampling.txt", "sampling time 9021 ms is longer than the whole"),
    ],
)
def test_impossible_values_fail_the_run(name: str, message: str) -> None:
    (config,) = read(IMPORT / name).configs
    (run,) = config.runs
    assert run.metrics is None and message in run.error


@pytest.mark.parametrize(
    ("name", "message", "line"),
    [
        ("llama_main_contradicting_counts.txt", "'Generated 48 tokens' contradicts", 1),
        ("llama_main_truncated_observer.txt", "truncated PyTorchObserver JSON", 1),
        ("llama_main_two_models.txt", "two models in one log", None),
        ("benchmark_results_truncated.json", "truncated or broken JSON", 1),
    ],
)
def test_bad_files_name_the_line(name: str, message: str, line: int | None) -> None:
    with pytest.raises(ImportFormatError, match=message) as err:
        read(IMPORT / name)
    if line is not None:
        assert err.value.line == line
    else:  # the second model's line
        text = (IMPORT / name).read_text().splitlines()
        assert "llama3_2_8da4w.pte" in text[err.value.line - 1]


def test_benchmark_app_json() -> None:
    path = IMPORT / "benchmark_results_2024-11.json"
    (config,) = read(path).configs
    items = {i["metric"]: i["actualValue"] for i in json.loads(path.read_text())}
    (run,) = config.runs
    assert run.metrics.generation_tps == items["token_per_sec"]
    assert run.metrics.load_ms == items["model_load_time(ms)"]
    assert math.isnan(run.metrics.prompt_tps)  # the app does not measure it
    assert config.quant == "8da4w"
    assert (config.prompt_tokens, config.gen_tokens, config.threads) == (None, None, None)
    assert config.facts.model == "SM-A256E" and config.facts.os == "Android 14"


def test_benchmark_app_json_first_version() -> None:
    (config,) = read(IMPORT / "benchmark_results_2024-09_flat.json").configs
    assert config.runs[0].metrics.generation_tps == 15.2
    assert config.quant == "8da4w"


def test_not_ours() -> None:
    assert importers.read("x", "[1, 2, 3]") is None
    assert (
        importers.read(
            "x", (DATA.parent.parent / "llamacpp/data/completion_version.txt").read_text()
        )
        is None
    )
