"""A study's findings with an imported campaign beside the measured one, and bad `imports`.

The import goes through the real `bench import` console script (a real
llama-bench capture); the study runs the fake frameworks in this process on
the same store; the LaTeX findings are compiled.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pocketbench.core.engine.plugins import BACKENDS, Registry
from pocketbench.core.results.names import short_name
from pocketbench.testing.latex import compile_latex

from .conftest import bench

TESTS = Path(__file__).resolve().parent.parent
CAPTURED = (
    TESTS / "backends" / "llamacpp" / "data" / "import" / "bench_tiny_q4_0_p32_g16_d0-32.json"
)


def with_imports(study_file: Path, *names: str) -> Path:
    text = study_file.read_text(encoding="utf-8")
    listed = ", ".join(f'"{n}"' for n in names)
    study_file.write_text(text.replace("warmup = 1\n", f"warmup = 1\nimports = [{listed}]\n"))
    return study_file


@pytest.mark.latex
def test_findings_show_the_imported_campaign_marked_and_compile(
    fake_registry: Registry, study_file: Path, run_bench, tmp_path: Path
) -> None:
    r = run_bench("import", str(CAPTURED), "--campaign", "phone-team")
    assert r.returncode == 0, r.stderr
    db = tmp_path / "pocketbench.db"
    study = with_imports(study_file, "phone-team")
    md, tex = tmp_path / "findings.md", tmp_path / "findings.tex"
    args = ("study", str(study), "--db", str(db), "--cooldown", "off")
    assert bench(fake_registry, *args, "-o", str(md)) == 0
    text = md.read_text(encoding="utf-8").replace("\\", "")
    sha = hashlib.sha256(CAPTURED.read_bytes()).hexdigest()
    assert "## Imported: phone-team" in text and "### Imported Results (phone-team)" in text
    # Where each imported configuration comes from is a table, a row each; what every row
    # shares is said once under it.
    sources = text.split("### Sources\n", 1)[1].split("\n#", 1)[0]
    rows = [
        [c.strip() for c in r.strip("|").split("|")]
        for r in sources.splitlines()
        if r.startswith("|")
    ]
    assert rows[0] == ["Configuration", "Imported from", "Format", "sha256"]
    assert len(rows[2:]) == 2
    for row in rows[2:]:
        assert "(imported, " in row[0]
        assert row[1:] == [short_name(str(CAPTURED)), "llama-bench json", sha]
    assert text.count("Measured by another tool, with no warm-up information.") == 1
    assert "imported from" not in text and "never pooled with them" in text
    # the measured tables are unchanged beside it
    assert "## Framework Comparison Results" in text and "ExecuTorch Quantization Results" in text
    assert bench(fake_registry, *args, "--no-run", "-o", str(tex)) == 0
    compile_latex(tex.read_text(encoding="utf-8"), tmp_path)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("nobody-imported-this",), "but the store has none; import it first: bench import FILE"),
        (("galaxy-a25-fake",), "was measured, not imported"),
    ],
    ids=["unknown", "measured"],
)
def test_a_bad_imports_entry_is_one_line(
    fake_registry: Registry, study_file: Path, tmp_path: Path, capsys, names, expected
) -> None:
    db = tmp_path / "r.db"
    args = ("study", str(study_file), "--db", str(db), "--cooldown", "off", "-o")
    assert bench(fake_registry, *args, str(tmp_path / "first.md")) == 0
    capsys.readouterr()
    study = with_imports(study_file, *names)
    code = bench(fake_registry, "study", str(study), "--db", str(db), "--no-run", "-o",
                 str(tmp_path / "f.md"))  # fmt: skip
    assert code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], lines


def test_a_missing_import_is_said_before_anything_is_measured(
    fake_registry: Registry, study_file: Path, tmp_path: Path, capsys
) -> None:
    study = with_imports(study_file, "not-yet")
    db = tmp_path / "r.db"
    assert bench(fake_registry, "study", str(study), "--db", str(db), "--cooldown", "off") == 2
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert "bench import FILE --campaign not-yet" in line
    fakes = fake_registry.sources[BACKENDS]
    assert all(not source.obj.runs for source in fakes.values())  # nothing ran
