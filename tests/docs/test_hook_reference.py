"""The hook reference in docs/plugins.md is the hookspecs' own docstrings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from pocketbench.core.engine import hookspecs

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hookdoc.py"
_spec = importlib.util.spec_from_file_location("hookdoc", _SCRIPT)
hookdoc = importlib.util.module_from_spec(_spec)
sys.modules["hookdoc"] = hookdoc
_spec.loader.exec_module(hookdoc)


def test_docs_hook_reference_matches_the_hookspecs(repo) -> None:
    text = (repo / "docs" / "plugins.md").read_text()
    assert hookdoc.block() in text, (
        "docs/plugins.md is out of date: run python scripts/hookdoc.py --write"
    )


def test_every_hook_is_documented_and_prefixed() -> None:
    names = hookdoc.hook_names()
    assert {
        "pocketbench_prepare",
        "pocketbench_warmup",
        "pocketbench_run",
        "pocketbench_parse",
    } <= set(names)
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name
    public = [
        n for n in dir(hookspecs) if callable(getattr(hookspecs, n)) and n.startswith("pocketbench")
    ]
    assert sorted(public) == sorted(names)
