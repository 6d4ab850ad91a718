"""The hook reference in docs/plugins.md is the hookspecs' own docstrings."""

from __future__ import annotations

from pocketbench.core import hookdoc, hookspecs


def test_docs_hook_reference_matches_the_hookspecs(repo) -> None:
    text = (repo / "docs" / "plugins.md").read_text()
    assert hookdoc.block() in text, (
        "docs/plugins.md is out of date: run python -m pocketbench.core.hookdoc --write"
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
