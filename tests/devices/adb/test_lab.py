"""A device lab on this machine: two hosts as network namespaces, each with a real adb
server and two loopback phones; studies sharded and replicated across the four phones
from the root namespace, one host's server killed mid-study, real llama.cpp runs.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import BIN, bench_env, run_bench
from pocketbench.testing.latex import compile_latex
from pocketbench.testing.phone.netlab import LabHost, lab_host, netns_problem
from pocketbench.testing.wait import wait_until

from .conftest import tiny_llamacpp_study

pytestmark = [pytest.mark.adb, pytest.mark.slow]
MODEL = "Loopback A25"
QUANTS = ["baseline", "q8_0", "q4_0", "q4_1", "q5_0", "q4_k_m"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabHost, LabHost]]:
    problem = netns_problem()
    if problem:
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("lab")
    with lab_host(root / "host1", index=1) as h1, lab_host(root / "host2", index=2) as h2:
        yield h1, h2


def study(
    path: Path,
    lab: tuple[LabHost, LabHost],
    bin_dir: str,
    *,
    spread: str,
    quants: list[str],
    runs: int,
) -> Path:
    servers = ", ".join(f'"{h.server}"' for h in lab)
    return tiny_llamacpp_study(
        path,
        name=f"lab-{spread}",
        device=f"pool:{MODEL}",
        bin_dir=bin_dir,
        quants=quants,
        runs=runs,
        lab=f'\n[lab]\nservers = [{servers}]\nspread = "{spread}"\n',
    )


def stored(db: Path, host: LabHost | None = None) -> set[tuple[str, int, str]]:
    """(configuration, run index, phone) of every successful measured run (on ``host``'s phones)."""
    if not db.exists():
        return set()
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "runs" not in tables:  # bench is still creating the file
            return set()
        rows = c.execute(
            "SELECT j.config_key, r.idx, j.facts FROM runs r JOIN jobs j ON r.job_id = j.id"
            " WHERE r.warmup = 0 AND r.ok = 1"
        ).fetchall()
    out = {(k, i, json.loads(f)["name"]) for k, i, f in rows}
    return {r for r in out if host is None or f"//{host.server}/" in r[2]}


def start_study(file: Path, db: Path, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "bench"),
            "study",
            str(file),
            "--db",
            str(db),
            "--cooldown",
            "off",
            "-o",
            "findings.md",
        ],
        cwd=cwd,
        env=bench_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_shard_moves_a_dead_hosts_work_to_the_other_phones_and_loses_nothing(
    lab: tuple[LabHost, LabHost], tmp_path: Path, host_build: str
) -> None:
    h1, h2 = lab
    file = study(tmp_path / "shard.toml", lab, host_build, spread="shard", quants=QUANTS, runs=3)
    db = tmp_path / "lab.db"
    proc = start_study(file, db, tmp_path)
    try:
        # Kill host 1's server once its phones have stored runs and work is left.
        assert wait_until(lambda: len(stored(db, h1)) >= 2, timeout=300), proc.stderr
        h1.kill_server()
        before = stored(db)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        h1.start_server()
    assert proc.returncode == 0, err
    assert "goes back to pool:Loopback A25's queue" in err
    assert re.search(
        r"4 phones measured for [0-9.]+ s, idle [0-9]+% of that time; [1-9]\d* configuration\(s\) moved",
        err,
    ), err
    after = stored(db)
    assert before <= after, "runs stored before the host died are gone"
    with Store.open(db, create=False) as s:
        configs = configurations(s, "lab-shard")
    # every configuration is complete, under the pool's name, whichever phone measured it
    assert len(configs) == len(QUANTS)
    assert all(c.device == f"pool:{MODEL}" and len(c.ok_runs) == 3 for c in configs)
    phones = {phone for _, _, phone in after}
    assert len(phones) >= 3 and any(f"//{h2.server}/" in p for p in phones)
    findings = (tmp_path / "findings.md").read_text()
    assert "## Per-phone results" in findings
    assert all(p in findings for p in phones)


@pytest.mark.latex
def test_replicate_marks_a_dead_hosts_work_incomplete_and_resumes_when_it_is_back(
    lab: tuple[LabHost, LabHost], tmp_path: Path, host_build: str
) -> None:
    h1, h2 = lab
    file = study(
        tmp_path / "replicate.toml",
        lab,
        host_build,
        spread="replicate",
        quants=["q4_0", "q8_0"],
        runs=3,
    )
    db = tmp_path / "lab.db"
    proc = start_study(file, db, tmp_path)
    try:
        assert wait_until(lambda: len(stored(db, h1)) >= 1, timeout=300), proc.stderr
        h1.kill_server()
        before = stored(db)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        h1.start_server()
    assert proc.returncode != 0
    assert "incomplete" in err
    first = stored(db)
    assert before <= first
    # host 2's phones measured everything; host 1's phones are incomplete
    assert len(stored(db, h2)) == 2 * 2 * 3
    assert len(stored(db, h1)) < 2 * 2 * 3
    # the host is back: the same command measures only what is missing
    again = run_bench(
        "study", str(file), "--db", str(db), "--cooldown", "off", "-o", "findings.tex", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    final = stored(db)
    assert first <= final and len(final) == 4 * 2 * 3
    tex = (tmp_path / "findings.tex").read_text()
    assert "Per-phone results" in tex and "linear mixed model" in tex
    compile_latex(tex, tmp_path)
    # a third time measures nothing and writes the same findings in markdown
    third = run_bench(
        "study", str(file), "--db", str(db), "--cooldown", "off", "-o", "findings.md", cwd=tmp_path
    )
    assert third.returncode == 0, third.stderr
    assert stored(db) == final
    findings = (tmp_path / "findings.md").read_text()
    assert "## Per-phone results" in findings
    assert "phone-to-phone SD" in findings and "linear mixed model" in findings
    for h in lab:
        assert all(f"adb://{h.server}/{serial}" in findings for serial in h.serials)
    # rewritten from the store alone (no phone opened), the findings are the same
    h1.kill_server()
    try:
        rewritten = run_bench("study", str(file), "--db", str(db), "--no-run", cwd=tmp_path)
    finally:
        h1.start_server()
    assert rewritten.returncode == 0, rewritten.stderr
    assert _findings_body(rewritten.stdout) == _findings_body(findings)


def _findings_body(text: str) -> str:
    """The findings without what may differ on a rewrite: pictures (only beside a file),
    caveats and the generation time."""
    text = re.sub(r"## Pictures\n.*?\n(?=## )", "", text, flags=re.S)
    answer = text.split("## Summary")[1].split("## Caveats")[0]
    return answer + text.split("## How it was measured")[1].split("Generated by")[0]


def test_bench_devices_lists_every_servers_phones_by_model(
    lab: tuple[LabHost, LabHost], tmp_path: Path
) -> None:
    h1, h2 = lab
    done = run_bench("devices", "--adb-server", h1.server, "--adb-server", h2.server, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"pool:{MODEL}  (4 phones)" in done.stdout
    for h in lab:
        for serial in h.serials:
            assert f"adb://{h.server}/{serial}" in done.stdout


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_pool_matching_no_phone_lists_the_attached_models(
    lab: tuple[LabHost, LabHost], tmp_path: Path
) -> None:
    h1, _ = lab
    line = one_line_error(
        run_bench(
            "run", "--backend", "llamacpp", "--device", f"pool:Pixel 8@{h1.server}", cwd=tmp_path
        )
    )
    assert "pool:Pixel 8 matches no phone" in line and f"attached models: {MODEL} (2)" in line


def test_an_unreachable_server_is_named_with_what_was_tried(tmp_path: Path) -> None:
    # A lab address whose host is down: nothing answers on it.
    line = one_line_error(
        run_bench(
            "run", "--backend", "llamacpp", "--device", f"pool:{MODEL}@127.0.0.1:1", cwd=tmp_path
        )
    )
    assert "the adb server 127.0.0.1:1 is unreachable" in line
    assert "tried a TCP connection to 127.0.0.1:1" in line


def test_two_servers_exposing_one_serial_are_refused(
    lab: tuple[LabHost, LabHost], tmp_path: Path
) -> None:
    h1, _ = lab
    port = int(h1.serials[0].rpartition(":")[2])
    with lab_host(tmp_path / "host3", index=3, phones=1, phone_ports=[port]) as h3:
        assert h3.serials == [h1.serials[0]]
        line = one_line_error(
            run_bench("devices", "--adb-server", h1.server, "--adb-server", h3.server, cwd=tmp_path)
        )
    assert f"two adb servers expose the serial '{h1.serials[0]}'" in line
    assert h1.server in line and h3.server in line


def test_bench_run_replicates_one_configuration_on_every_phone_of_a_pool(
    lab: tuple[LabHost, LabHost], tmp_path: Path, host_build: str
) -> None:
    h1, h2 = lab
    db = tmp_path / "run.db"
    done = run_bench(
        "run", "--backend", "llamacpp", "--quant", "q4_0", "--model", "tiny",
        "--device", f"pool:{MODEL}@{h1.server},{h2.server}", "--spread", "replicate",
        "--llamacpp-bin", host_build, "--runs", "2", "--warmup", "0",
        "--prompt-tokens", "16", "--gen-tokens", "8", "--threads", "1", "--cooldown", "off",
        "--db", str(db), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with Store.open(db, create=False) as s:
        configs = configurations(s)
    phones = {f"adb://{h.server}/{serial}" for h in lab for serial in h.serials}
    assert {c.device for c in configs} == phones
    assert all(len(c.ok_runs) == 2 for c in configs)


def test_shard_moves_a_vanished_phones_configuration_to_the_pools_other_phones(
    lab: tuple[LabHost, LabHost], tmp_path: Path, host_build: str
) -> None:
    h1, h2 = lab
    file = study(tmp_path / "phone.toml", lab, host_build, spread="shard", quants=QUANTS, runs=3)
    db = tmp_path / "lab.db"
    gone = f"adb://{h2.server}/{h2.serials[1]}"
    proc = start_study(file, db, tmp_path)
    try:
        assert wait_until(lambda: any(p == gone for _, _, p in stored(db)), timeout=300)
        h2.pull_phone(1)
        before = stored(db)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        h2.plug_phone(1)
    assert proc.returncode == 0, err
    assert f"{gone} went away" in err
    after = stored(db)
    assert before <= after
    with Store.open(db, create=False) as s:
        configs = configurations(s, "lab-shard")
    assert len(configs) == len(QUANTS) and all(len(c.ok_runs) == 3 for c in configs)
    # the phone is back: a study on the pool uses it again
    assert wait_until(
        lambda: gone in run_bench("devices", "--adb-server", h2.server, cwd=tmp_path).stdout
    )
