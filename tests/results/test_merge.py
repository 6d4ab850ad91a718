"""``bench merge``: stores of several machines become one; merging twice adds nothing;
campaigns sharing a name but measuring different things are reported, not joined;
a store of a newer schema is refused in one line."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from pocketbench.core.results.build import configurations
from pocketbench.core.results.schema import SCHEMA_VERSION
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import run_bench
from pocketbench.testing.fabricated import add_config


def lab_store(path: Path, phone: str, quants: tuple[str, ...] = ("q4_0", "q8_0")) -> Path:
    """A machine's store: campaign "lab", the same configurations measured on its own phone."""
    with Store.open(path) as s:
        s.campaign("lab", command="bench study lab.toml")
        for i, q in enumerate(quants):
            add_config(
                s,
                backend="llamacpp",
                quant=q,
                model="tiny",
                device=phone,
                gens=[10.0 + i, 11.0 + i, 12.0 + i],
            )
    return path


def runs_in(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as c:
        return int(c.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def test_merging_two_machines_joins_their_campaign_and_merging_again_adds_nothing(
    tmp_path: Path,
) -> None:
    a = lab_store(tmp_path / "a.db", "adb://10.0.0.1:5037/R1")
    b = lab_store(tmp_path / "b.db", "adb://10.0.0.2:5037/R2")
    out = tmp_path / "all.db"
    first = run_bench("merge", str(out), str(a), str(b), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{a}: 8 runs added, 0 already present" in first.stdout
    assert f"{b}: 8 runs added, 0 already present" in first.stdout
    with Store.open(out, create=False) as s:
        assert [c["name"] for c in s.campaigns()] == ["lab"]
        configs = configurations(s, "lab")
    assert sorted((c.device, c.quant) for c in configs) == [
        ("adb://10.0.0.1:5037/R1", "q4_0"),
        ("adb://10.0.0.1:5037/R1", "q8_0"),
        ("adb://10.0.0.2:5037/R2", "q4_0"),
        ("adb://10.0.0.2:5037/R2", "q8_0"),
    ]
    assert all(
        [r.metrics.generation_tps for r in c.ok_runs] in ([10, 11, 12], [11, 12, 13])
        for c in configs
    )
    again = run_bench("merge", str(out), str(a), str(b), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{a}: 0 runs added, 8 already present" in again.stdout
    assert runs_in(out) == 16
    # and the merged store merges into another one without growing either
    other = tmp_path / "other.db"
    assert run_bench("merge", str(other), str(out), cwd=tmp_path).returncode == 0
    assert run_bench("merge", str(out), str(other), cwd=tmp_path).returncode == 0
    assert runs_in(out) == 16 and runs_in(other) == 16


def test_a_campaign_sharing_a_name_but_measuring_other_things_is_reported_not_joined(
    tmp_path: Path,
) -> None:
    a = lab_store(tmp_path / "a.db", "adb://10.0.0.1:5037/R1")
    c = lab_store(tmp_path / "c.db", "adb://10.0.0.3:5037/R3", quants=("q5_0", "f32"))
    out = tmp_path / "all.db"
    done = run_bench("merge", str(out), str(a), str(c), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"note: campaign 'lab' in {c} differs from the one in" in done.stderr
    assert "merged as 'lab@c', not joined" in done.stderr
    with Store.open(out, create=False) as s:
        assert sorted(x["name"] for x in s.campaigns()) == ["lab", "lab@c"]
        assert {x.quant for x in configurations(s, "lab")} == {"q4_0", "q8_0"}
        assert {x.quant for x in configurations(s, "lab@c")} == {"q5_0", "f32"}
    # the renamed campaign is found again: a second merge adds nothing
    assert run_bench("merge", str(out), str(c), cwd=tmp_path).returncode == 0
    assert runs_in(out) == 16


def test_a_store_of_a_newer_schema_is_refused_in_one_line_and_nothing_is_merged(
    tmp_path: Path,
) -> None:
    a = lab_store(tmp_path / "a.db", "adb://10.0.0.1:5037/R1")
    newer = lab_store(tmp_path / "newer.db", "adb://10.0.0.2:5037/R2")
    with contextlib.closing(sqlite3.connect(newer)) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    out = tmp_path / "all.db"
    assert run_bench("merge", str(out), str(a), cwd=tmp_path).returncode == 0
    done = run_bench("merge", str(out), str(newer), cwd=tmp_path)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"newer pocketbench (schema {SCHEMA_VERSION + 1}" in lines[0] and str(newer) in lines[0]
    assert runs_in(out) == 8


def test_a_store_of_an_older_schema_is_merged_from_a_migrated_copy_and_left_as_it_was(
    tmp_path: Path,
) -> None:
    from pocketbench.core.results import schema as schema_module

    old = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(old)) as c, c:
        c.executescript(schema_module._SCHEMA)
        c.execute(f"PRAGMA application_id = {schema_module.APPLICATION_ID}")
        c.execute("PRAGMA user_version = 1")
        c.execute("INSERT INTO campaigns(id, name, created_at) VALUES (1, 'before', 0)")
        c.execute(
            "INSERT INTO jobs(id, campaign_id, config_key, backend, quant, model, device,"
            " workload, runs, warmup, options, started_at, status) VALUES (1, 1,"
            " 'llamacpp|q4_0|tiny|local|p64|g32|t2', 'llamacpp', 'q4_0', 'tiny', 'local', '{}',"
            " 1, 0, '{}', 0, 'done')"
        )
        c.execute(
            "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, wall_s, timed_out,"
            " created_at) VALUES (1, 0, 0, 1, '[]', 'eval time = 40 ms / 16 runs', '', 1.0, 0, 5.0)"
        )
    out = tmp_path / "all.db"
    for _ in range(2):
        done = run_bench("merge", str(out), str(old), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert runs_in(out) == 1
    with contextlib.closing(sqlite3.connect(old)) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 1  # the source is not migrated
