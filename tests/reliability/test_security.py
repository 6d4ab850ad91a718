"""User text is data: SQL, shells and plugin loading."""

from __future__ import annotations

import json
import sqlite3

from pocketbench.core.api.model import Job, ProcessResult, RunRecord, Workload
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store

HOSTILE = "x'); DROP TABLE runs; -- \"; rm -rf / $(reboot) `id` 50% \\input{x} _&# <script>"


def test_hostile_strings_are_stored_verbatim_never_executed(tmp_path) -> None:
    job = Job(
        backend="b",
        quant="q",
        model=HOSTILE,
        device="local",
        workload=Workload(prompt=HOSTILE),
        options={"note": HOSTILE},
    )
    with Store.open(tmp_path / "r.db") as s:
        s.campaign(HOSTILE)
        jid = s.start_job(job, None, {"tool": HOSTILE})
        s.add_run(
            jid,
            RunRecord(
                index=0,
                warmup=False,
                error=HOSTILE,
                result=ProcessResult(
                    argv=(HOSTILE,), stdout=HOSTILE, stderr=HOSTILE, exit_code=1, wall_s=0.1
                ),
            ),
        )
        (cfg,) = configurations(s, HOSTILE)
    assert cfg.model == HOSTILE and cfg.workload.prompt == HOSTILE
    assert cfg.describe["tool"] == HOSTILE and cfg.records[0].result.argv == (HOSTILE,)
    with sqlite3.connect(tmp_path / "r.db") as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "jobs", "campaigns"} <= tables


def test_no_plugins_turns_off_third_party_entry_points(run_bench, example_backend) -> None:
    listed = json.loads(
        run_bench("--no-plugins", "plugins", "--json", paths=(example_backend,)).stdout
    )
    assert "numpy-ref" not in {b["name"] for b in listed["backends"]}
    assert "llamacpp" in {b["name"] for b in listed["backends"]}
    r = run_bench(
        "--no-plugins", "--backend", "numpy-ref", "--model", "tiny", paths=(example_backend,)
    )
    assert r.returncode == 2 and "Unknown backend 'numpy-ref'" in r.stderr
    env_off = run_bench(
        "plugins", "--json", paths=(example_backend,), POCKETBENCH_DISABLE_PLUGINS="1"
    )
    assert "numpy-ref" not in env_off.stdout
