"""Device-to-device against run-to-run variation: the mixed model on known data, and its table."""

from __future__ import annotations

import random

import pytest

from pocketbench.core.results.phones import (
    SPLIT_HEADER,
    SPLIT_NOTE,
    replica_key,
    split_row,
    variance_split,
)


def samples(
    phone_means: list[float], run_sd: float, runs: int, seed: int = 7
) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {
        f"phone{i}": [rng.gauss(m, run_sd) for _ in range(runs)] for i, m in enumerate(phone_means)
    }


def test_units_that_differ_are_told_apart_from_run_to_run_noise() -> None:
    split = variance_split(samples([20.0, 24.0, 28.0, 32.0], run_sd=0.3, runs=8))
    assert split is not None and split.phones == 4 and split.runs == 32
    assert split.phone_share > 0.9
    assert split.phone_sd == pytest.approx(5.16, rel=0.3) and split.run_sd == pytest.approx(
        0.3, rel=0.4
    )
    row = dict(zip(SPLIT_HEADER, split_row("llama.cpp Q4_0", split)))
    assert row["Configuration"] == "llama.cpp Q4_0" and row["Phones"] == "4" and row["Runs"] == "32"
    assert row["Reading"] == "the units differ: quote per-phone figures"
    assert int(row["Phone's share"].rstrip("%")) > 90


def test_identical_units_leave_the_spread_to_the_runs() -> None:
    split = variance_split(samples([25.0] * 4, run_sd=1.0, runs=8))
    assert split is not None and split.phone_share < 0.3
    assert split.mean == pytest.approx(25.0, abs=0.6)
    row = dict(zip(SPLIT_HEADER, split_row("x", split)))
    assert row["Reading"] == "the units agree: the figure stands for this phone model"


def test_too_few_phones_or_runs_give_no_split() -> None:
    assert variance_split({"a": [1.0, 2.0]}) is None
    assert variance_split({"a": [1.0, 2.0], "b": [3.0]}) is None


def test_the_replica_key_leaves_out_only_the_device() -> None:
    a = "llamacpp|q4_0|tiny|adb://h1:5037/s1|p16|g8|t1"
    b = "llamacpp|q4_0|tiny|adb://h2:5037/s2|p16|g8|t1"
    assert replica_key(a) == replica_key(b) != replica_key(a.replace("q4_0", "q8_0"))


@pytest.mark.latex
def test_a_replicated_pool_reports_its_variance_split_as_one_table(run_bench, tmp_path) -> None:
    """A row per configuration in every format, what the rows share said once under it."""
    from pocketbench.core.results.store import Store
    from pocketbench.testing.fabricated import add_config
    from pocketbench.testing.latex import compile_latex

    db = tmp_path / "pool.db"
    with Store.open(db) as store:
        store.campaign("pool")
        # replicate: each configuration ran on both phones, and the second unit is faster
        for quant, speed in (("q4_0", 11.0), ("q8_0", 9.0)):
            for serial, unit in (("adb://h1:5037/s1", 0.0), ("adb://h2:5037/s2", 2.0)):
                add_config(store, backend="llamacpp", quant=quant, model="tiny", device=serial,
                           gens=[speed + unit + d for d in (0.0, 0.1, -0.1, 0.05)])  # fmt: skip
    heading = "Phone-to-phone against run-to-run variation"
    md = run_bench("report", "--db", str(db), "--format", "markdown")
    assert md.returncode == 0, md.stderr
    split = md.stdout.split(f"## {heading}", 1)[1].replace("\\", "")
    rows = [line for line in split.splitlines() if line.startswith("|")]
    assert [c.strip() for c in rows[0].strip("|").split("|")] == list(SPLIT_HEADER)
    assert len(rows) == 2 + 2  # one row per configuration, not per phone
    assert all("the units differ: quote per-phone figures" in row for row in rows[2:])
    assert md.stdout.replace("\\", "").count(SPLIT_NOTE) == 1 and "accounts for" not in md.stdout
    html = run_bench("report", "--db", str(db), "--format", "html")
    assert html.returncode == 0, html.stderr
    table = html.stdout.split(f"<h3>{heading}</h3>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 2 and table.count("the units differ") == 2
    tex = run_bench("report", "--db", str(db), "--format", "latex")
    assert tex.returncode == 0, tex.stderr
    assert heading in tex.stdout and tex.stdout.count("linear mixed model") == 1
    compile_latex(tex.stdout, tmp_path)
