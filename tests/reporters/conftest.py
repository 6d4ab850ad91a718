"""Fixtures of the reporter tests (the fabricated store is the suite's ``store_path``)."""

from __future__ import annotations

import pytest

from pocketbench.core.engine.plugins import Registry


@pytest.fixture
def registry() -> Registry:
    """The reporters pocketbench ships, found through their entry points."""
    return Registry.from_entry_points(third_party=False, warn=lambda message: None)
