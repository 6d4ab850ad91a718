"""Fixtures of the study tests (fake backends live in fakebackends.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakebackends import SEED_STUDY, make_registry

from pocketbench.core.engine.plugins import Registry


@pytest.fixture
def fake_registry() -> Registry:
    return make_registry()


@pytest.fixture
def seed_study(tmp_path: Path) -> Path:
    path = tmp_path / "seed-fake.toml"
    path.write_text(SEED_STUDY, encoding="utf-8")
    return path
