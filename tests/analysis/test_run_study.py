"""bench study end to end: fake backends whose runs are real subprocesses, a real store,
the findings document in markdown and LaTeX (compiled by pdflatex)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pocketbench.core.analysis.findings import build_findings
from pocketbench.core.analysis.study import load_study
from pocketbench.core.analysis.study_run import run_study
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.plugins import BACKENDS, Registry
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.reporters.findings import render_findings
from pocketbench.testing.backends import FakeBackend
from pocketbench.testing.latex import compile_latex

from .conftest import bench

TABLES = (
    "## Framework Comparison Results",
    "## ExecuTorch Quantization Results",
    "## Llama.cpp Quantization Results",
)
ROWS = (
    "Total Speed (tokens/second)",
    "Prompt Eval Speed (tokens/second)",
    "Generation Speed (tokens/second)",
)


def fake(registry: Registry, name: str) -> FakeBackend:
    return registry.sources[BACKENDS][name].obj  # type: ignore[no-any-return]


@pytest.fixture
def measured(fake_registry: Registry, study_file: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    db = tmp_path / "results.db"
    with Store.open(db) as store:
        result = run_study(
            study_file, registry=fake_registry, store=store, devices={"local": LocalDevice()}
        )
        findings = build_findings(result.study, result.configs, store, result.campaign)
    return db, result, findings


def test_study_runs_every_configuration_and_stores_it(measured, fake_registry: Registry) -> None:  # type: ignore[no-untyped-def]
    db, result, _ = measured
    assert result.campaign == "galaxy-a25-fake" and not result.errors and result.failed_runs == 0
    assert len(result.outcomes) == 6
    assert all(len(o.measured) == 8 for o in result.outcomes)
    assert len(fake(fake_registry, "fake-et").runs) == 3 * (1 + 8)
    with Store.open(db, create=False) as store:
        configs = configurations(store, "galaxy-a25-fake")
    assert len(configs) == 6 and all(len(c.ok_runs) == 8 and len(c.warmups) == 1 for c in configs)
    # The bandwidth was probed at the study's start (each job's own figure) and again at
    # its end, once for the one placement all six share, and kept with every job.
    ends = {p.measured_at for c in configs for p in c.stored_bandwidth.later}  # type: ignore[union-attr]
    assert len(ends) == 1
    for c in configs:
        start, end = c.stored_bandwidth.probes  # type: ignore[union-attr]
        assert end.reason == "the study's end" and end.measured_at > start.measured_at


def test_findings_markdown_has_the_seeds_tables_and_worded_conclusions(measured) -> None:  # type: ignore[no-untyped-def]
    _, _, findings = measured
    md = render_findings(findings, "markdown")
    positions = [md.index(t) for t in TABLES]
    assert positions == sorted(positions)
    # The answer first: summary, decision table, the study's tables, comparisons, caveats, method.
    assert (
        md.index("## Summary")
        < md.index("## Decision table")
        < positions[0]
        < md.index("## Comparisons")
        < md.index("## Caveats")
        < md.index("## How it was measured")
    )
    # The framework table: each framework's baseline, the Galaxy A25 study's rows, "mean ± sd" cells.
    table = md[positions[0] : positions[1]]
    assert "| ExecuTorch " in table and "| Llama.cpp " in table
    for row in ROWS:
        assert re.search(
            rf"\| {re.escape(row)} +\| \d+\.\d\d ± \d+\.\d\d +\| \d+\.\d\d ± \d+\.\d\d +\|", table
        )
    assert "| Baseline" in md[positions[1] :] and "QAT+LoRA" in md and "Q8\\_0" in md
    # Conclusions from the statistics: real differences and a real non-difference.
    assert re.search(
        r"In generation, Llama\.cpp is faster than ExecuTorch \(\d+\.\d\d vs \d+\.\d\d"
        r" tokens/s, ratio \d\.\d\d× \\\[\d\.\d\d, \d\.\d\d\\\], Holm-adjusted p ",
        md,
    )
    assert re.search(
        r"\| ExecuTorch QAT\+LoRA vs ExecuTorch SpinQuant +\| 1\.00×( \\\[[\d.]+, [\d.]+\\\])? +\|"
        r" ([\d.]+|n/a) +\| not distinguishable +\|",
        md,
    )
    assert "| Llama.cpp Q4\\_0 vs Llama.cpp Baseline " in md
    # Preface: device facts, method, tool versions and build commits.
    assert "1 warm-up run" in md and "8 measured runs" in md and "with 2 threads" in md
    assert "16 tokens" in md and "exactly 8 generated tokens" in md
    assert "build commit 0c1e570" in md and "fake-et version 1.2.3" in md
    cores = LocalDevice().facts().cores
    assert re.search(rf"Cores\W+{cores}\b", md), "the device's core count is in the preface"
    # The study's own text is user text: escaped, never markup.
    assert "<script>" not in md and "\\<script\\> \\|" in md
    # Caveats the data supports.
    assert "accuracy" in md and "Synthetic models" in md and "No device temperatures" in md
    # Both probes of the one placement, the study's start and its end, once for all six.
    probes = [line for line in md.splitlines() if line.startswith("- Bandwidth probes")]
    assert len(probes) == 1 and probes[0].count(" GB/s (") == 2, probes
    assert "local (2 threads, not pinned): " in probes[0] and "the study's end" in probes[0]


def test_findings_conclusions_are_statistics(measured) -> None:  # type: ignore[no-untyped-def]
    _, _, findings = measured
    (section,) = findings.sections
    assert len(section.conclusions) == 3 * (1 + 3 + 3)  # frameworks, ET pairs, llama.cpp pairs
    gen = next(
        c for c in section.conclusions if c.metric == "generation_tps" and c.b == "ExecuTorch"
    )
    assert gen.a == "Llama.cpp" and gen.significant and gen.p_adjusted >= gen.welch.pvalue
    assert gen.ratio.ci[0] > 1


def test_findings_latex_compiles(measured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, findings = measured
    tex = render_findings(findings, "latex")
    assert "\\section*{Framework Comparison Results}" in tex
    assert "\\section*{ExecuTorch Quantization Results}" in tex
    assert "50\\% \\textbackslash{}" in tex  # the study's description, escaped
    compile_latex(tex, tmp_path)


def test_rerunning_resumes(measured, fake_registry: Registry, study_file: Path) -> None:  # type: ignore[no-untyped-def]
    db, _, _ = measured
    before = len(fake(fake_registry, "fake-cpp").runs)
    with Store.open(db) as store:
        again = run_study(
            study_file, registry=fake_registry, store=store, devices={"local": LocalDevice()}
        )
    assert len(fake(fake_registry, "fake-cpp").runs) == before
    assert all(o.already_stored == 8 and not o.records for o in again.outcomes)


def test_more_runs_measure_only_the_missing_ones(
    measured, fake_registry: Registry, study_file: Path
) -> None:  # type: ignore[no-untyped-def]
    db, _, _ = measured
    study = load_study(study_file)
    study.runs = 10
    with Store.open(db) as store:
        again = run_study(
            study, registry=fake_registry, store=store, devices={"local": LocalDevice()}
        )
    assert all(len(o.measured) == 2 and o.already_stored == 8 for o in again.outcomes)


def test_failed_runs_become_caveats(
    fake_registry: Registry, study_file: Path, tmp_path: Path
) -> None:
    fake(fake_registry, "fake-cpp").fail_quant = "q8_0"
    with Store.open(tmp_path / "r.db") as store:
        result = run_study(
            study_file, registry=fake_registry, store=store, devices={"local": LocalDevice()}
        )
        findings = build_findings(result.study, result.configs, store, result.campaign)
    assert result.failed_runs == 1
    md = render_findings(findings, "markdown")
    assert "Some measured runs failed: Llama.cpp Q8\\_0 (1 of 8)" in md


# -- the command line ---------------------------------------------------------------------


def test_bench_study_writes_markdown_then_latex(
    fake_registry: Registry, study_file: Path, tmp_path: Path
) -> None:
    db, md, tex = tmp_path / "r.db", tmp_path / "findings.md", tmp_path / "findings.tex"
    assert (
        bench(
            fake_registry,
            "study",
            str(study_file),
            "--db",
            str(db),
            "-o",
            str(md),
            "--cooldown",
            "off",
        )
        == 0
    )
    text = md.read_text(encoding="utf-8")
    assert all(t in text for t in TABLES)
    # Rewriting needs no device and measures nothing; the format follows the extension.
    runs = len(fake(fake_registry, "fake-et").runs)
    assert (
        bench(
            fake_registry,
            "study",
            str(study_file),
            "--db",
            str(db),
            "--no-run",
            "-o",
            str(tex),
            "--plusminus",
            "ci",
        )
        == 0
    )
    assert len(fake(fake_registry, "fake-et").runs) == runs
    latex = tex.read_text(encoding="utf-8")
    assert latex.startswith("\\documentclass") and "confidence interval of the mean" in latex
    compile_latex(latex, tmp_path)


def test_bench_study_reports_failed_runs_in_its_exit_code(
    fake_registry: Registry, study_file: Path, tmp_path: Path
) -> None:
    fake(fake_registry, "fake-et").fail_quant = "spinquant"
    code = bench(
        fake_registry,
        "study",
        str(study_file),
        "--db",
        str(tmp_path / "r.db"),
        "-o",
        str(tmp_path / "f.md"),
        "--cooldown",
        "off",
    )
    assert code == 1 and (tmp_path / "f.md").exists()


def test_bench_study_bad_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pocketbench.core.cli.main import main

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'models = ["tiny"]\nrunz = 3\n[[framework]]\nbackend = "llamacpp"\nquants = ["q4_0"]\n'
    )
    assert main(["study", str(bad), "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "unknown key 'runz'" in err and "\n" not in err


def test_bench_report_from_a_study(fake_registry: Registry, measured, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, _, _ = measured
    out = tmp_path / "r.json"
    assert bench(fake_registry, "report", "--db", str(db), "-o", str(out)) == 0
    import json

    assert len(json.loads(out.read_text())["configurations"]) == 6


def test_several_models_get_a_section_each(fake_registry: Registry, tmp_path: Path) -> None:
    from pocketbench.core.analysis.study import parse_study

    study = parse_study(
        {
            "name": "two-models",
            "models": ["tiny", "stories110m"],
            "runs": 3,
            "warmup": 0,
            "workload": {"prompt_tokens": 8, "gen_tokens": 4, "threads": 1},
            "framework": [
                {"backend": "fake-et", "label": "ET", "quants": ["baseline", "spinquant"]},
                {"backend": "fake-cpp", "label": "CPP", "quants": ["baseline"]},
            ],
        }
    )
    with Store.open(tmp_path / "r.db") as store:
        result = run_study(
            study, registry=fake_registry, store=store, devices={"local": LocalDevice()}
        )
        findings = build_findings(result.study, result.configs, store, result.campaign)
    assert [s.heading for s in findings.sections] == ["tiny on local", "stories110m on local"]
    md = render_findings(findings, "markdown")
    assert (
        "## tiny on local" in md and "### Framework Comparison Results (stories110m on local)" in md
    )
    assert "### ET Quantization Results (tiny on local)" in md
    assert "CPP Quantization Results" not in md  # one scheme: no quantization table
    compile_latex(render_findings(findings, "latex"), tmp_path)


def test_findings_of_a_partly_measured_study(
    fake_registry: Registry, study_file: Path, tmp_path: Path
) -> None:
    from pocketbench.core.analysis.study import parse_study

    with Store.open(tmp_path / "r.db") as store:
        run_study(study_file, registry=fake_registry, store=store, devices={"local": LocalDevice()})
        # The same study with one more scheme that was never measured: written without measuring.
        data = {
            "name": "galaxy-a25-fake",
            "models": ["tiny"],
            "runs": 8,
            "workload": {"prompt_tokens": 16, "gen_tokens": 8, "threads": 2},
            "framework": [
                {"backend": "fake-et", "label": "ExecuTorch", "quants": ["baseline"]},
                {
                    "backend": "fake-cpp",
                    "label": "Llama.cpp",
                    "quants": ["baseline", "q4_0", "q4_k_m"],
                },
            ],
        }
        result = run_study(parse_study(data), registry=fake_registry, store=store)
        findings = build_findings(result.study, result.configs, store, result.campaign)
    md = render_findings(findings, "markdown")
    assert "No successful runs are stored for Llama.cpp Q4\\_K\\_M; their cells read n/a." in md
    assert re.search(
        r"\| Generation Speed \(tokens/second\) +\| [\d.]+ ± [\d.]+ +\| [\d.]+ ± [\d.]+ +\| n/a +\|",
        md,
    )
    assert re.search(
        r"\| Llama\.cpp Q4\\_K\\_M vs Llama\.cpp Baseline +\| n/a +\| n/a +\| cannot be tested", md
    )
    # What is stored is still compared.
    assert re.search(r"\| Llama\.cpp Q4\\_0 vs Llama\.cpp Baseline +\| [\d.]+× ", md)


def test_quality_changes_what_the_caveats_say_about_accuracy(measured) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from pocketbench.core.api.quality import QualityResult
    from pocketbench.core.results.quality import record_from_result

    db, result, findings = measured
    assert any(c.startswith("Only speed was measured") for c in findings.caveats)
    with sqlite3.connect(db) as c:
        (job_id,) = c.execute(
            "SELECT j.id FROM jobs j JOIN campaigns k ON j.campaign_id = k.id"
            " WHERE k.name = ? ORDER BY j.id LIMIT 1",
            (result.campaign,),
        ).fetchone()
    q = QualityResult(scored=300, eval_tokens=1024, n_vocab=100, nll_mean=3.0, nll_se=0.05)
    rec = record_from_result(
        q, reference="r", text_name="t", text_sha256="a" * 64, protocol="p", is_reference=True
    )
    with Store.open(db) as store:
        store.add_quality(job_id, rec)
        again = build_findings(result.study, result.configs, store, result.campaign)
    text = "\n".join(again.caveats)
    # Quality was measured for one configuration: no claim that only speed was.
    assert "Only speed was measured" not in text
    assert "not a task benchmark" in text and text.count("No quality was measured for") == 1
