"""Plugin discovery through entry points, broken plugins, per-job managers."""

from __future__ import annotations

import pytest

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.engine.plugins import BACKENDS, REPORTERS, Registry
from pocketbench.testing.backends import FakeBackend

GOOD_PLUGIN = """
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import BackendInfo, QuantScheme

@hookimpl
def pocketbench_backend_info():
    return BackendInfo(description="fake", version="9.9",
                       schemes=(QuantScheme(name="q1", description="one bit"),), default_scheme="q1")
"""


def test_builtins_are_found_through_entry_points(registry: Registry) -> None:
    assert {"llamacpp", "executorch"} <= set(registry.backend_names())
    assert {"markdown", "latex", "json", "csv", "html"} <= set(registry.reporter_names())
    assert registry.sources[BACKENDS]["llamacpp"].distribution == "pocketbench"


def test_third_party_backend_found_by_entry_point_name(fake_dist) -> None:
    fake_dist(
        "fake-backend",
        {"pocketbench.backends": {"fakey": "fakeplug_good"}},
        {"fakeplug_good": GOOD_PLUGIN},
    )
    reg = Registry.from_entry_points(warn=lambda m: None)
    assert "fakey" in reg.backend_names()
    info = reg.backend_info("fakey")
    assert info.version == "9.9" and info.scheme_names() == ["q1"]


def test_broken_plugin_is_one_warning_naming_its_distribution(fake_dist) -> None:
    fake_dist(
        "broken-dist",
        {"pocketbench.backends": {"broken": "fakeplug_broken"}},
        {"fakeplug_broken": "raise RuntimeError('boom at import')\n"},
    )
    fake_dist(
        "good-dist",
        {"pocketbench.backends": {"fakey": "fakeplug_good2"}},
        {"fakeplug_good2": GOOD_PLUGIN},
    )
    warnings: list[str] = []
    reg = Registry.from_entry_points(warn=warnings.append)
    # discovery imports nothing: no warning yet, and other backends still work
    assert warnings == []
    assert reg.backend_info("fakey").version == "9.9"
    with pytest.raises(UsageError) as exc:
        reg.backend_info("broken")
    assert "broken-dist" in str(exc.value) and "boom at import" in str(exc.value)
    assert "\n" not in str(exc.value)
    loaded = reg.try_load_all(BACKENDS)
    assert "fakey" in loaded and "broken" not in loaded
    assert len([w for w in warnings if "broken-dist" in w]) == 1
    assert not [w for w in warnings if "good-dist" in w]


def test_no_plugins_keeps_only_our_own(fake_dist, monkeypatch) -> None:
    fake_dist(
        "fake-backend",
        {"pocketbench.backends": {"fakey": "fakeplug_good3"}},
        {"fakeplug_good3": GOOD_PLUGIN},
    )
    assert "fakey" not in Registry.from_entry_points(third_party=False).backend_names()
    monkeypatch.setenv("POCKETBENCH_DISABLE_PLUGINS", "1")
    reg = Registry.from_entry_points()
    assert "fakey" not in reg.backend_names() and "llamacpp" in reg.backend_names()


def test_duplicate_name_is_reported_not_silently_shadowed(fake_dist) -> None:
    fake_dist(
        "impostor",
        {"pocketbench.backends": {"llamacpp": "fakeplug_good4"}},
        {"fakeplug_good4": GOOD_PLUGIN},
    )
    warnings: list[str] = []
    Registry.from_entry_points(warn=warnings.append)
    assert any("llamacpp" in w and "impostor" in w for w in warnings)


def test_unknown_backend_lists_choices(registry: Registry) -> None:
    with pytest.raises(UsageError, match=r"Unknown backend 'nope'\. Choose one of: .*llamacpp"):
        registry.backend_manager("nope")


def test_misspelled_hook_is_caught() -> None:
    class Typo(FakeBackend):
        @hookimpl
        def pocketbench_prepair(self, job, device):  # misspelled on purpose
            return None

    reg = Registry(warn=lambda m: None)
    reg.add(BACKENDS, "typo", Typo())
    with pytest.raises(UsageError, match="pocketbench_prepair"):
        reg.backend_manager("typo")


def test_job_manager_holds_exactly_one_backend(registry: Registry) -> None:
    a, b = FakeBackend(), FakeBackend()
    registry.add(BACKENDS, "a", a)
    registry.add(BACKENDS, "b", b)
    try:
        pm = registry.backend_manager("a")
        backends = [p for p in pm.get_plugins() if isinstance(p, FakeBackend)]
        assert backends == [a]
    finally:
        registry.remove(BACKENDS, "a")
        registry.remove(BACKENDS, "b")


def test_reporters_group_is_separate(registry: Registry) -> None:
    with pytest.raises(UsageError, match="Unknown reporter"):
        registry.reporter_manager("llamacpp")
    assert REPORTERS in registry.sources


def test_the_default_backend_is_named_by_pocketbench_or_the_environment(monkeypatch) -> None:
    registry = Registry.from_entry_points(third_party=False, warn=lambda m: None)
    assert registry.default_backend() == "llamacpp"  # pocketbench's pyproject.toml says so
    monkeypatch.setenv("POCKETBENCH_BACKEND", "executorch")
    assert registry.default_backend() == "executorch"
