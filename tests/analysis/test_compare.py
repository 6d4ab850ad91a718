"""bench compare: a clear regression is flagged, noise is not, unmatched configurations are listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pocketbench.core.analysis.compare import (
    IMPROVEMENT,
    REGRESSION,
    UNCHANGED,
    compare_campaigns,
)
from pocketbench.core.analysis.compare_output import comparison_text
from pocketbench.core.api.errors import UsageError
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import NASTY


def compare(path: Path, old: str = "old", new: str = "new", **kw: float):  # type: ignore[no-untyped-def]
    with Store.open(path, create=False) as store:
        return compare_campaigns(store, old, new, **kw)


def verdicts(comparison) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    return {(c.config_key.split("|")[1], c.metric): c.verdict for c in comparison.changes}


def test_clear_regression_flagged_noise_not(store_path: Path) -> None:
    c = compare(store_path)
    v = verdicts(c)
    assert v[("q4_0", "generation_tps")] == REGRESSION  # 11.6 -> 9.3 tokens/s
    assert v[("q8_0", "generation_tps")] == UNCHANGED  # moved by noise only
    q4 = next(x for x in c.changes if x.metric == "generation_tps" and "q4_0" in x.config_key)
    assert q4.change_pct == pytest.approx((9.28 / 11.5875 - 1) * 100, rel=1e-3)
    lo, hi = q4.ratio.pct_ci
    assert lo < q4.change_pct < hi < 0
    assert q4.p_adjusted < 0.05
    assert any("executorch" in label for label in c.only_old)
    assert any(NASTY in label for label in c.only_new)


def test_reversed_campaigns_show_an_improvement(store_path: Path) -> None:
    assert verdicts(compare(store_path, "new", "old"))[("q4_0", "generation_tps")] == IMPROVEMENT


def test_threshold_hides_small_significant_changes(store_path: Path) -> None:
    # The regression is about 20%: a 25% threshold calls it unchanged.
    assert (
        verdicts(compare(store_path, threshold_pct=25.0))[("q4_0", "generation_tps")] == UNCHANGED
    )


def test_text_output(store_path: Path) -> None:
    text = comparison_text(compare(store_path))
    first = text.splitlines()[1]
    assert first.startswith("REGRESSION") and "llamacpp q4_0 tiny" in first
    assert "only in old:" in text and "only in new:" in text
    assert "exceeds 5%" in text


def test_unknown_campaign(store_path: Path) -> None:
    with pytest.raises(UsageError, match="Unknown campaign 'nope'. Choose one of: new, old"):
        compare(store_path, "nope", "new")


def test_cli_compare(store_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pocketbench.core.cli.main import main

    assert main(["compare", "old", "new", "--db", str(store_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    flagged = [c for c in data["changes"] if c["verdict"] == REGRESSION]
    assert {c["metric"] for c in flagged} >= {"generation_tps"}
    assert all("q4_0" in c["config_key"] for c in flagged)
    assert main(["compare", "old", "missing", "--db", str(store_path)]) == 2
    assert "Unknown campaign 'missing'" in capsys.readouterr().err
