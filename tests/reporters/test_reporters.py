"""Every shipped reporter renders a real store, and user text stays text in each format."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from pocketbench.core.api.errors import UsageError
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.results.build import build_report
from pocketbench.core.results.report import ReportOptions
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import NASTY, compile_latex

SHIPPED = ("markdown", "latex", "json", "csv", "html")


def report(store_path: Path, campaign: str | None = "new", **kw: object):  # type: ignore[no-untyped-def]
    """The report ``bench report`` builds: with the shipped backends' vocabulary."""
    vocabulary = Registry.from_entry_points(third_party=False).vocabulary()
    with Store.open(store_path, create=False) as store:
        return build_report(store, campaign, vocabulary=vocabulary, **kw)  # type: ignore[arg-type]


def test_shipped_reporters_are_found_through_entry_points(registry: Registry) -> None:
    assert set(SHIPPED) <= set(registry.reporter_names())
    assert registry.reporter_info("latex").extension == "tex"
    assert registry.reporter_info("markdown").extension == "md"


@pytest.mark.parametrize("fmt", SHIPPED)
def test_every_reporter_renders_every_configuration(
    registry: Registry, store_path: Path, fmt: str
) -> None:
    out = registry.render(fmt, report(store_path, None), ReportOptions())
    assert isinstance(out, str) and out
    for needle in ("executorch", "q8_0"):
        assert needle in out.replace("\\_", "_")


def test_unknown_format_names_the_choices(registry: Registry, store_path: Path) -> None:
    with pytest.raises(UsageError, match="Choose one of: csv, html, json, latex, markdown"):
        registry.render("docx", report(store_path), ReportOptions())


def test_report_statistics(store_path: Path) -> None:
    rep = report(store_path)
    by_model = {c.model: c for c in rep.configs}
    nasty = by_model[NASTY]
    assert nasty.n_ok == 8 and nasty.n_failed == 1 and len(nasty.warmups) == 1
    assert "generation_tps" in nasty.throttling
    assert nasty.temperatures == (40.0, 42.5, 44.0, 45.5, 47.0, 48.0, 49.5, 50.0)
    assert nasty.describe["version"] == NASTY
    tiny = next(c for c in rep.configs if c.model == "tiny" and c.quant == "q4_0")
    assert not tiny.throttling and tiny.n_failed == 0
    s = tiny.summary("generation_tps")
    assert s.n == 8 and s.mean == pytest.approx(
        sum([9.3, 9.2, 9.35, 9.25, 9.31, 9.28, 9.22, 9.33]) / 8
    )
    # optional metrics appear only because one configuration measured them; a
    # backend's own figure (ExecuTorch's total rate) is labelled as it declares
    assert rep.metrics[:3] == ("total_tps", "prompt_tps", "generation_tps")
    assert "runner_total_rate" in rep.metrics and "load_ms" not in rep.metrics
    assert rep.spec("runner_total_rate").label == "Runner's Own Total Rate (tokens/second)"


# -- markdown -------------------------------------------------------------------------


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


def test_markdown_is_the_seeds_table(registry: Registry, store_path: Path) -> None:
    out = registry.render("markdown", report(store_path), ReportOptions())
    rows = table_rows(out)
    assert len({len(r) for r in rows}) == 1, "a | in user text split a table row"
    labels = [r[0] for r in rows]
    assert labels[2:5] == [
        "Total Speed (tokens/second)",
        "Prompt Eval Speed (tokens/second)",
        "Generation Speed (tokens/second)",
    ]
    gen = rows[4]
    assert re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d", gen[1])
    assert "(prompt tokens + generated tokens) / (prompt-evaluation time + generation time)" in out
    assert "runner\\_total\\_rate" in out  # ExecuTorch's own total rate is explained
    assert "Runner's Own Total Rate (tokens/second)" in labels


def test_markdown_plusminus_sd_or_ci(registry: Registry, store_path: Path) -> None:
    rep = report(store_path)
    tiny = next(c for c in rep.configs if c.model == "tiny" and c.quant == "q4_0")
    s = tiny.summary("generation_tps")
    sd = registry.render("markdown", rep, ReportOptions(plusminus="sd"))
    ci = registry.render("markdown", rep, ReportOptions(plusminus="ci"))
    assert f"{s.mean:.2f} ± {s.stdev:.2f}" in sd
    low, high = s.ci95
    assert f"{s.mean:.2f} \\[{low:.2f}, {high:.2f}\\]" in ci  # markdown escapes brackets
    assert 0 < low < s.mean < high
    assert "confidence interval" in ci


def test_markdown_escapes_user_text(registry: Registry, store_path: Path) -> None:
    out = registry.render("markdown", report(store_path), ReportOptions(title=NASTY))
    assert "<script>" not in out
    assert "\\<script\\>" in out
    assert "\\_\\&\\#" in out and "50% \\\\input\\{x\\}" in out


# -- LaTeX ------------------------------------------------------------------------------


def test_latex_escapes_user_text(registry: Registry, store_path: Path) -> None:
    out = registry.render("latex", report(store_path), ReportOptions(title=NASTY))
    assert "\\input{x}" not in out
    assert "50\\% \\textbackslash{}input\\{x\\}" in out
    assert "\\toprule" in out and "\\midrule" in out and "\\bottomrule" in out
    assert "\\mbox{$9.28 \\pm 0.05$}" in out


@pytest.mark.latex
def test_latex_report_compiles(registry: Registry, store_path: Path, tmp_path: Path) -> None:
    out = registry.render(
        "latex", report(store_path, None), ReportOptions(title=NASTY, plusminus="ci")
    )
    compile_latex(out, tmp_path)


@pytest.mark.latex
def test_latex_transposes_wide_tables(registry: Registry, tmp_path: Path) -> None:
    from pocketbench.testing.fabricated import add_config

    path = tmp_path / "wide.db"
    with Store.open(path) as store:
        store.campaign("wide")
        for q in ("a", "b", "c", "d", "e", "f"):
            add_config(
                store, backend="llamacpp", quant=f"{q}_{NASTY}", model="tiny", gens=[5.0, 5.1, 5.2]
            )
    out = registry.render("latex", report(path, "wide"), ReportOptions())
    compile_latex(out, tmp_path)


# -- HTML -------------------------------------------------------------------------------


def test_html_escapes_user_text_and_embeds_plots(registry: Registry, store_path: Path) -> None:
    out = registry.render("html", report(store_path), ReportOptions(title=NASTY))
    assert "<script" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', out)
    assert len(images) == 2
    import base64

    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert "with device temperature" in out  # the per-run plot shows it


# -- JSON -------------------------------------------------------------------------------


def test_json_contract(registry: Registry, store_path: Path) -> None:
    data = json.loads(registry.render("json", report(store_path), ReportOptions()))
    assert data["format_version"] == 2
    configs = data["configurations"]
    assert len(configs) == 3
    for c in configs:
        for key in ("backend", "quant", "model", "device", "workload", "metrics"):
            assert key in c
        assert c["workload"]["prompt_tokens"] == 64 and c["workload"]["threads"] == 2
        for metric in ("prompt_tps", "generation_tps", "total_tps"):
            m = c["metrics"][metric]
            assert set(m) >= {"mean", "stdev", "ci95", "n", "samples"}
            assert len(m["samples"]) == m["n"] == 8
            low, high = m["ci95"]
            assert low < m["mean"] < high
    nasty = next(c for c in configs if c["model"] == NASTY)
    assert nasty["device"] == NASTY and nasty["workload"]["prompt"] == NASTY
    assert nasty["failed_runs"] == 1 and "generation_tps" in nasty["throttling"]
    assert nasty["metrics"]["generation_tps"]["samples"][0] == 10.0
    assert "prompt-evaluation time" in data["definitions"]["total_tps"]


def test_json_has_no_nan(registry: Registry, tmp_path: Path) -> None:
    from pocketbench.testing.fabricated import add_config

    path = tmp_path / "one.db"
    with Store.open(path) as store:
        store.campaign("one")
        add_config(store, backend="llamacpp", quant="q4_0", model="tiny", gens=[5.0])
    text = registry.render("json", report(path, "one"), ReportOptions())
    m = json.loads(text)["configurations"][0]["metrics"]["generation_tps"]
    assert m["n"] == 1 and m["stdev"] is None and m["ci95"] == [None, None]


# -- CSV --------------------------------------------------------------------------------


def test_csv_one_row_per_run(registry: Registry, store_path: Path) -> None:
    out = registry.render("csv", report(store_path), ReportOptions())
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * (1 + 8) + 1  # warm-ups, measured runs, one failed run
    nasty = [r for r in rows if r["model"] == NASTY]
    assert len(nasty) == 10
    failed = [r for r in nasty if r["ok"] == "0"]
    assert len(failed) == 1 and NASTY in failed[0]["error"] and failed[0]["generation_tps"] == ""
    measured = [float(r["generation_tps"]) for r in nasty if r["warmup"] == "0" and r["ok"] == "1"]
    assert measured == [10.0, 9.9, 9.7, 9.5, 9.2, 9.0, 8.8, 8.5]
    assert {r["temp_after_c"] for r in nasty if r["warmup"] == "0" and r["ok"] == "1"} >= {
        "40",
        "50",
    }


def test_csv_defuses_formulas() -> None:
    from pocketbench.reporters.csvfmt import defuse

    assert defuse("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert defuse(NASTY) == NASTY


# -- bench report -------------------------------------------------------------------------


def test_bench_report_cli(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pocketbench.core.cli.main import main

    db = str(store_path)
    assert main(["report", "--db", db, "--list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("old\t3 configuration(s)") and "\nnew\t3 configuration(s)" in listed
    # The format follows --output's extension.
    out = tmp_path / "r.tex"
    assert main(["report", "--db", db, "--campaign", "old", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("\\documentclass")
    assert main(["report", "--db", db, "--campaign", "new", "--plusminus", "ci"]) == 0
    assert "95% confidence interval" in capsys.readouterr().out
    assert main(["report", "--db", db, "--format", "docx"]) == 2
    assert "Choose one of: csv, html, json, latex, markdown" in capsys.readouterr().err
    assert main(["report", "--db", str(tmp_path / "none.db")]) == 5
    assert "no results database" in capsys.readouterr().err


def test_a_busy_host_is_reported_not_hidden(tmp_path) -> None:
    """Runs measured while other processes loaded the CPU carry a note saying so."""
    from pocketbench.core.api.model import (
        DeviceFacts,
        Job,
        Metrics,
        ProcessResult,
        Readings,
        RunRecord,
    )
    from pocketbench.core.results.build import build_report
    from pocketbench.core.results.report import ReportOptions
    from pocketbench.core.results.store import Store
    from pocketbench.reporters import markdown

    facts = DeviceFacts(name="local", kind="local", cores=2)
    with Store.open(tmp_path / "r.db") as s:
        for quant, load in (("quiet", 0.3), ("busy", 4.5)):
            jid = s.start_job(Job(backend="b", quant=quant, model="m"), facts, {})
            for i in range(3):
                m = Metrics(
                    prompt_tokens=8,
                    gen_tokens=8,
                    prompt_tps=10.0 + i,
                    generation_tps=5.0 + i,
                    total_tps=6.0,
                )
                s.add_run(
                    jid,
                    RunRecord(
                        index=i,
                        warmup=False,
                        metrics=m,
                        result=ProcessResult(
                            argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1
                        ),
                        before=Readings(time=0.0, load_avg=load),
                    ),
                )
        report = build_report(s)
    busy = {c.quant: c.busy_host for c in report.configs}
    assert busy == {"quiet": None, "busy": 4.5}
    text = markdown.render(report, ReportOptions())
    assert text.count("The host was busy: load average up to 4.5 on 2 cores") == 1


def test_latex_long_hashes_stay_on_the_page(tmp_path: Path) -> None:
    """A sha256 in the tool list has break points, so pdflatex keeps it within the margin."""
    from pocketbench.core.results.present import latex_breakable

    digest = "638abf162dbbf0e838c3f13d8b7b2e9265189a2cfd834cb8a25cb0b0387fab31"
    line = latex_breakable(f"model_sha256 {digest}")
    assert str(line).replace(r"\allowbreak{}", "") == r"model\_sha256 " + digest
    tex = (
        "\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage{lmodern}"
        # \sloppy as in the reporters' preamble (reporters/templates/preamble.tex.j2)
        "\\sloppy\\begin{document}\\begin{itemize}\\item Tool: "
        + "; ".join([str(line)] * 3)
        + "\\end{itemize}\\end{document}\n"
    )
    compile_latex(tex, tmp_path)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert not [x for x in overfull if x > 2.0], overfull
