"""The bench command as a user types it (real console script, real subprocesses)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.schema import SCHEMA_VERSION
from pocketbench.core.results.store import Store
from pocketbench.testing.cli import BIN, bench_env, wait_for_runs
from pocketbench.testing.wait import process_gone, wait_until


def test_help_is_instant_and_documents_exit_codes() -> None:
    code = (
        "import sys\n"
        "from pocketbench.core.cli.main import main\n"
        "rc = main(['--help'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'executorch', 'statsmodels', 'matplotlib'})\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in out.stdout
    assert "Exit codes: 0 ok, 1 runs_failed, 2 usage" in out.stdout
    for sub in ("run", "plugins"):
        assert sub in out.stdout


def test_python_dash_m_is_bench() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pocketbench", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "0.1.0" in out.stdout


def test_the_example_backends_own_tests_pass(example_backend, repo, tmp_path) -> None:
    # What a plugin author copies: tests that use only pocketbench.plugin and pocketbench.testing.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(repo / "examples" / "pocketbench-numpy-backend" / "tests"),
        ],
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(example_backend), os.environ.get("PYTHONPATH")])
            ),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout


def test_plugins_shows_each_schemes_aliases_and_how_it_is_produced(run_bench) -> None:
    import json

    listing = json.loads(run_bench("plugins", "--json").stdout)
    text = run_bench("plugins").stdout
    schemes = [q for b in listing["backends"] for q in b["quants"]]
    assert any(q["aliases"] for q in schemes) and any(q["produced_by"] for q in schemes)
    for q in schemes:
        if q["aliases"]:
            assert f"      also: {', '.join(q['aliases'])}\n" in text
        if q["produced_by"]:
            assert f"      produced by: {q['produced_by']}\n" in text


def test_example_third_party_backend_shows_up_and_runs(
    run_bench, example_backend, tmp_path
) -> None:
    listed = run_bench("plugins", paths=(example_backend,))
    assert listed.returncode == 0, listed.stderr
    assert "numpy-ref 0.1.0 (pocketbench-numpy-backend)" in listed.stdout
    assert "--quant fp16" in listed.stdout
    r = run_bench(
        "--backend",
        "numpy-ref",
        "--quant",
        "fp16",
        "--model",
        "tiny",
        "--runs",
        "3",
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "8",
        paths=(example_backend,),
    )
    assert r.returncode == 0, r.stderr
    assert "Generation Speed (tokens/second)" in r.stdout and " ± " in r.stdout
    # one configuration: its column is labelled by backend and scheme only
    assert re.search(r"\|\s+numpy-ref fp16\s+\|", r.stdout), r.stdout
    with Store.open(tmp_path / "pocketbench.db") as s:
        (cfg,) = configurations(s)
        assert len(cfg.ok_runs) == 3 and len(cfg.warmups) == 1
        assert cfg.workload.prompt_tokens == 16
        assert all(r.metrics.gen_tokens == 8 for r in cfg.ok_runs)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--backend", "nope"], "Unknown backend 'nope'. Choose one of:", 2),
        (
            ["--backend", "numpy-ref", "--quant", "q3"],
            "Unknown quantization 'q3' for backend 'numpy-ref'. Choose one of: fp16, fp32.",
            2,
        ),
        (["--backend", "numpy-ref", "--device", "phone"], "Unknown device 'phone'", 2),
        (["--backend", "numpy-ref", "--runs", "0"], "--runs must be at least 1", 2),
        (
            ["--backend", "numpy-ref", "--model", "missing/model.gguf"],
            "model file missing/model.gguf does not exist",
            2,
        ),
        (["--backend", "numpy-ref", "--db", "no/such/dir/r.db"], "not a writable directory", 5),
        (
            ["--backend", "numpy-ref", "--prompt-tokens", "0"],
            "--prompt-tokens must be from 1 to",
            2,
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    run_bench, example_backend, tmp_path, args, message, code
) -> None:
    r = run_bench(*args, paths=(example_backend,))
    assert r.returncode == code, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "pocketbench.db").exists()


def test_newer_database_is_refused(run_bench, example_backend, tmp_path) -> None:
    db = tmp_path / "pocketbench.db"
    Store.open(db).close()
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    r = run_bench("--backend", "numpy-ref", "--model", "tiny", paths=(example_backend,))
    assert r.returncode == 5 and "newer pocketbench" in r.stderr


def test_runs_survive_kill_9_and_the_campaign_resumes(example_backend, tmp_path) -> None:
    db = tmp_path / "r.db"
    argv = [
        str(BIN / "bench"),
        "--backend",
        "numpy-ref",
        "--model",
        "tiny",
        "--runs",
        "12",
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "64",
        "--db",
        str(db),
        "--campaign",
        "k",
        "--cooldown",
        "off",
    ]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=bench_env(example_backend),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stored = wait_for_runs(db, 3)
        assert stored >= 3, "bench stored no runs in time"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store.open(db) as s:
        (cfg,) = configurations(s, "k")
        kept = len(cfg.ok_runs)
    assert 3 <= kept < 12
    again = subprocess.run(
        argv, cwd=tmp_path, env=bench_env(example_backend), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    with Store.open(db) as s:
        (cfg,) = configurations(s, "k")
        indices = [r.index for r in cfg.runs]
    assert sorted(indices) == list(range(12)), "a run was lost or measured twice"


def test_ctrl_c_stops_the_runtime_keeps_the_runs_and_says_how_to_resume(
    example_backend, tmp_path
) -> None:
    db = tmp_path / "r.db"
    marker = f"--seed-{tmp_path.name}"
    argv = [
        str(BIN / "bench"),
        "--backend",
        "numpy-ref",
        "--model",
        "tiny",
        "--runs",
        "5",
        "--warmup",
        "0",
        "--prompt-tokens",
        "8",
        "--gen-tokens",
        "3000",
        "--db",
        str(db),
        "--campaign",
        marker,
        "--cooldown",
        "off",
    ]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=bench_env(example_backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stored = wait_for_runs(db, 1, warmups=True, timeout=600)
        assert stored >= 1

        def runtime_children() -> list[str]:
            out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
            return out.stdout.split()

        assert wait_until(runtime_children, timeout=60), "no runtime process was running"
        runtimes = runtime_children()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and f"--campaign {marker}" in err and "Traceback" not in err
    for pid in runtimes:
        assert wait_until(lambda pid=pid: process_gone(int(pid)), timeout=5), (
            "the runtime kept running after Ctrl-C"
        )
    with Store.open(db) as s:
        (cfg,) = configurations(s, marker)
        assert len(cfg.ok_runs) >= 1


def test_two_bench_processes_share_one_database(example_backend, tmp_path) -> None:
    db = tmp_path / "shared.db"
    procs = [
        subprocess.Popen(
            [
                str(BIN / "bench"),
                "--backend",
                "numpy-ref",
                "--model",
                "tiny",
                "--quant",
                q,
                "--runs",
                "6",
                "--prompt-tokens",
                "8",
                "--gen-tokens",
                "4",
                "--db",
                str(db),
                "--cooldown",
                "off",
            ],
            cwd=tmp_path,
            env=bench_env(example_backend),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for q in ("fp16", "fp32")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Store.open(db) as s:
        configs = configurations(s)
    assert sorted(c.quant for c in configs) == ["fp16", "fp32"]
    assert all(len(c.ok_runs) == 6 and len(c.warmups) == 1 for c in configs)


def test_setup_failure_is_one_line_exit_3_and_measures_nothing(run_bench, tmp_path) -> None:
    r = run_bench("--backend", "llamacpp", "--model", "no-such-preset", "--runs", "1")
    assert r.returncode == 3, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no-such-preset" in errors[0] and "Traceback" not in r.stderr
    with Store.open(tmp_path / "pocketbench.db") as s:
        assert s.campaigns() == [] and configurations(s) == []
