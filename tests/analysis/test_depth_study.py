"""Speed against context depth: a study with a prompt-token list, run by ``bench study`` with real llama.cpp."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.core.testing.cli import run_bench

pytestmark = pytest.mark.slow

STUDY = """
name = "depth"
models = ["tiny"]
runs = 2
warmup = 0

[workload]
prompt_tokens = [16, 64, 256]
gen_tokens = 24
threads = 2

[[framework]]
backend = "llamacpp"
quants = ["q4_0"]
"""


def test_a_depth_sweep_writes_the_picture_beside_the_findings(tmp_path: Path) -> None:
    (tmp_path / "depth.toml").write_text(STUDY, encoding="utf-8")
    done = run_bench(
        "study", "depth.toml", "-o", "findings.md", "--db", "r.db", "--cooldown", "off",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    picture = tmp_path / "findings-depth.png"
    assert f"generation speed against depth: {picture.name}" in done.stderr
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    findings = (tmp_path / "findings.md").read_text(encoding="utf-8")
    # Each depth is its own configuration, named by its depth.
    for depth in (16, 64, 256):
        assert f"prompt {depth}" in findings
    assert "a prompt of 16, 64, 256 tokens" in findings
    # The same picture as SVG beside it, linked beside the PNG.
    assert b"<svg" in (tmp_path / "findings-depth.svg").read_bytes()[:1000]
    assert "](findings-depth.png)" in findings and "](findings-depth.svg)" in findings
    # No temporary file is left beside the pictures (they are written atomically).
    assert sorted(p.name for p in tmp_path.iterdir() if "depth" in p.name) == [
        "depth.toml",
        "findings-depth.png",
        "findings-depth.svg",
    ]
