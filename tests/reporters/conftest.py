"""Fixtures of the reporter tests (helpers live in fabricated.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabricated import fabricate

from pocketbench.core.engine.plugins import Registry


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return fabricate(tmp_path / "results.db")


@pytest.fixture
def registry() -> Registry:
    """The reporters pocketbench ships, found through their entry points."""
    return Registry.from_entry_points(third_party=False, warn=lambda message: None)
