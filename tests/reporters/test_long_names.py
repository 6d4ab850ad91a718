"""Long names (campaign, model, device, prompt) fit every table; the JSON keeps them whole."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

import pytest

from pocketbench.core.engine.plugins import Registry
from pocketbench.core.results.build import build_report
from pocketbench.core.results.report import ReportOptions
from pocketbench.core.results.store import Store
from pocketbench.report import CELL_WIDTH, short_name
from pocketbench.testing.fabricated import add_config, compile_latex

CAMPAIGN = "nightly-" + "x" * 60 + "-Galaxy_A25_SpinQuant_versus_llama.cpp_Q4_0_" + "y" * 80
MODEL = "/home/someone/models/" + "Llama-3.2-1B-Instruct-SpinQuant_INT4_EO8-" * 4
DEVICE = "adb://lab-runner-17.internal.example.com:5037/" + "R58N" * 12
PROMPT = "Summarise https://example.com/" + "a" * 150 + " " + "the quick brown fox " * 20


@pytest.fixture
def long_store(tmp_path: Path) -> Path:
    """Two configurations whose model paths differ only at the end, one on a long address."""
    db = tmp_path / "long.db"
    with Store.open(db) as store:
        store.campaign(CAMPAIGN)
        add_config(
            store,
            backend="llamacpp",
            quant="q4_0",
            model=MODEL + "a.gguf",
            device=DEVICE,
            gens=[10.0, 11.0, 12.0],
            prompt=PROMPT,
        )
        add_config(
            store,
            backend="llamacpp",
            quant="q4_0",
            model=MODEL + "b.gguf",
            device="local",
            gens=[10.5, 11.5, 12.5],
            prompt=PROMPT,
        )
    return db


def render(registry: Registry, db: Path, fmt: str) -> str:
    with Store.open(db, create=False) as store:
        report = build_report(store, CAMPAIGN, vocabulary=registry.vocabulary())
    out = registry.render(fmt, report, ReportOptions())
    return out if isinstance(out, str) else out.decode()


def test_short_name_keeps_both_ends_within_the_width() -> None:
    cut = short_name(MODEL + "a.gguf")
    assert len(cut) == CELL_WIDTH and "…" in cut
    assert cut.startswith("/home/someone/") and cut.endswith("a.gguf")
    assert short_name("tiny") == "tiny"
    assert short_name("two\nlines") == "two lines"


def test_markdown_table_cells_are_short_and_tell_the_models_apart(
    registry: Registry, long_store: Path
) -> None:
    out = render(registry, long_store, "markdown")
    table = [line for line in out.splitlines() if line.startswith("|")]
    header = [cell.strip().replace("\\", "") for cell in table[0].strip("|").split("|")]
    assert all(len(cell) <= CELL_WIDTH for cell in header), header
    labels = header[1:]
    assert len(set(labels)) == 2, "two models became one column label"
    # The ends that tell them apart are kept: the file names, the phone's serial.
    assert any("a.gguf @adb://" in label and label.endswith("R58N") for label in labels), labels
    assert any("b.gguf @local" in label for label in labels), labels
    # Below the table the whole values are there, escaped.
    assert f"model: {MODEL.replace('_', chr(92) + '_')}a.gguf" in out


def test_html_table_headers_are_short_and_the_details_whole(
    registry: Registry, long_store: Path
) -> None:
    out = render(registry, long_store, "html")
    heads = [html.unescape(h) for h in re.findall(r"<th[^>]*>([^<]+)</th>", out)]
    assert len(heads) == 2 and all(len(h) <= CELL_WIDTH for h in heads), heads
    assert f"<dd>{html.escape(MODEL)}a.gguf</dd>" in out


@pytest.mark.latex
def test_latex_report_keeps_long_names_on_the_page(
    registry: Registry, long_store: Path, tmp_path: Path
) -> None:
    out = render(registry, long_store, "latex")
    compile_latex(out, tmp_path)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert not [x for x in overfull if x > 2.0], overfull


def test_csv_keeps_every_name_whole(registry: Registry, long_store: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render(registry, long_store, "csv"))))
    assert len(rows) == 2 * (1 + 3)  # a warm-up and three runs each
    assert {r["campaign"] for r in rows} == {CAMPAIGN}
    assert {r["model"] for r in rows} == {MODEL + "a.gguf", MODEL + "b.gguf"}
    assert {r["device"] for r in rows} == {DEVICE, "local"}


def test_json_keeps_every_name_whole(registry: Registry, long_store: Path) -> None:
    data = json.loads(render(registry, long_store, "json"))
    assert data["campaign"] == CAMPAIGN
    configs = data["configurations"]
    assert {c["model"] for c in configs} == {MODEL + "a.gguf", MODEL + "b.gguf"}
    assert {c["device"] for c in configs} == {DEVICE, "local"}
    assert {c["workload"]["prompt"] for c in configs} == {PROMPT}
