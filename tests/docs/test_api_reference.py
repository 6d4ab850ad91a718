"""docs/api.md is generated from the public modules: every public name, as the code says it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "apidoc.py"
_spec = importlib.util.spec_from_file_location("apidoc", _SCRIPT)
apidoc = importlib.util.module_from_spec(_spec)
sys.modules["apidoc"] = apidoc
_spec.loader.exec_module(apidoc)


def test_docs_api_reference_matches_the_code(repo) -> None:
    text = (repo / "docs" / "api.md").read_text(encoding="utf-8")
    assert text == apidoc.reference(), (
        "docs/api.md is out of date: run python scripts/apidoc.py --write"
    )


def test_every_public_name_is_in_the_reference_with_a_sentence() -> None:
    text = apidoc.reference()
    for module_name in apidoc.MODULES:
        module = importlib.import_module(module_name)
        for name in apidoc.public_names(module):
            assert f"`{name}" in text, f"{module_name}.{name}"
    assert apidoc.undocumented() == []


def test_the_reference_answers_what_plugin_authors_had_to_guess(repo) -> None:
    text = apidoc.reference()
    # Device.run: whether env= merges with or replaces the environment.
    assert "merged into the device's own environment" in text
    # measure()'s keyword arguments, the cache helpers' real signatures, the data model's fields.
    assert "measure(plugin: Any, name: str, tmp_path: Path, *, quant: str | None = None" in text
    assert "`temp_beside(path: Path) -> Iterator[Path]`" in text
    assert "`file_lock(path: Path, waiting: str | None = None) -> Iterator[None]`" in text
    for cls in ("ModelSpec", "DecodeBytes", "RunRecord"):
        assert f"### class `{cls}`" in text
    assert "| `vocab_size` | `int` |" in text
