"""Storing what ``bench import`` read: results a user already has, beside measured ones.

:mod:`pocketbench.core.engine.imports` reads the files and asks the backends
what they hold; this module stores the answer in one transaction: every
file of the command or none, so a bad file leaves nothing half-imported.
A file is identified by its sha256, so importing it again adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import evolve, frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.api.imported import ImportedConfig, ImportedResults
from pocketbench.core.api.model import DeviceFacts, Job, Workload
from pocketbench.core.kit import checks
from pocketbench.core.kit.convert import dumps

if TYPE_CHECKING:
    from pocketbench.core.results.store import Store

#: Larger files are refused before a byte is read: a log or a llama-bench
#: table of real runs is kilobytes; gigabytes are a wrong file (a model?).
MAX_IMPORT_BYTES = 64 << 20
DEFAULT_DEVICE = "imported"


@frozen(kw_only=True)
class WorkloadHints:
    """What ``--prompt-tokens/--gen-tokens/--threads`` say, for files that do not."""

    prompt_tokens: int | None = None
    gen_tokens: int | None = None
    threads: int | None = None


@frozen(kw_only=True)
class ReadFile:
    """One file as read, recognised and checked; not yet stored."""

    path: str
    sha256: str
    size: int
    text: str
    backend: str
    results: ImportedResults


@frozen(kw_only=True)
class Outcome:
    """What one file added to the store (``already``: the campaign holding it before)."""

    path: str
    format: str
    campaign: str
    configs: int = 0
    runs: int = 0
    failed_runs: int = 0
    summaries: int = 0
    already: bool = False


def read_bytes(path: str) -> tuple[bytes, int]:
    """The file's bytes, refused by size first; errors name the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not p.is_file():
        raise UsageError(f"{path}: not a file")
    if size > MAX_IMPORT_BYTES:
        raise UsageError(
            f"{path}: {size / 2**20:,.0f} MiB is more than the {MAX_IMPORT_BYTES >> 20} MiB"
            " an import reads (runtime output is kilobytes); not read"
        )
    with open(p, "rb") as f:
        data = f.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:  # grew while we looked
        raise UsageError(f"{path}: larger than {MAX_IMPORT_BYTES >> 20} MiB; not read")
    return data, len(data)


def workload_of(cfg: ImportedConfig, hints: WorkloadHints, path: str) -> Workload:
    """The configuration's workload: the file's values, else the user's hints (never against them)."""
    values: dict[str, int] = {}
    for name, flag in (
        ("prompt_tokens", "--prompt-tokens"),
        ("gen_tokens", "--gen-tokens"),
        ("threads", "--threads"),
    ):
        value, hint = getattr(cfg, name), getattr(hints, name)
        if value is not None and hint is not None and hint != value:
            raise UsageError(
                f"{path}:{cfg.line or 1}: the file says {name.replace('_', ' ')} = {value},"
                f" {flag} says {hint}"
            )
        if value is None:
            value = hint
        if value is None:
            raise UsageError(
                f"{path}:{cfg.line or 1}: the file does not say {name.replace('_', ' ')} for"
                f" {cfg.model}; pass {flag}"
            )
        # The limits bench run has: an import accepts nothing a run would refuse.
        high = checks.MAX_THREADS if name == "threads" else checks.MAX_TOKENS
        if not 1 <= value <= high:
            raise UsageError(
                f"{path}:{cfg.line or 1}: {name.replace('_', ' ')} = {value} is impossible"
                f" (bench run takes 1 to {high:,})"
            )
        values[name] = value
    return Workload(**values)


def store_files(
    store: Store,
    files: Sequence[ReadFile],
    *,
    campaign: str | None = None,
    device_label: str | None = None,
    hints: WorkloadHints | None = None,
    command: str | None = None,
) -> list[Outcome]:
    """Store files already read and recognised: all of them in one transaction, or none.

    :raises UsageError: a workload the file and the hints cannot settle; nothing stored.
    """
    hints = hints or WorkloadHints()
    planned = [
        (f, [(cfg, workload_of(cfg, hints, f.path)) for cfg in f.results.configs]) for f in files
    ]
    outcomes: list[Outcome] = []
    # A full disk or a failing file is one line naming the store, not a traceback.
    with store.transaction("storing the imported runs") as conn:
        stored = _measurements(conn)
        for f, configs in planned:
            known = conn.execute(
                "SELECT c.name FROM imports i JOIN jobs j ON j.import_id = i.id"
                " JOIN campaigns c ON j.campaign_id = c.id WHERE i.sha256 = ? LIMIT 1",
                (f.sha256,),
            ).fetchone()
            # The same measurement in other bytes (re-serialised JSON, CRLF
            # line ends, another file name) is the same measurement.
            fresh = [(cfg, w) for cfg, w in configs if measurement(cfg, w) not in stored]
            if known is None and not fresh:
                known = (stored[measurement(*configs[0])],)
            if known is not None:
                outcomes.append(
                    Outcome(path=f.path, format=f.results.format, campaign=known[0], already=True)
                )
                continue
            name = campaign or f"import {Path(f.path).name} {f.sha256[:8]}"
            outcomes.append(_store_file(conn, f, fresh, name, device_label, command))
            stored.update({measurement(cfg, w): name for cfg, w in fresh})
    return outcomes


def measurement(cfg: ImportedConfig, workload: Workload) -> str:
    """What was measured, whatever the bytes that carried it: configuration and figures.

    The device label is the user's word, not a measurement, so it is left out.
    """
    figures = [
        cfg.backend, cfg.quant, cfg.model, dumps(workload), sorted(cfg.options.items()),
        cfg.describe.get("test_time"),
        [(dumps(r.metrics) if r.metrics else None, r.error, repr(r.wall_s)) for r in cfg.runs],
        [(s.metric, s.n, repr(s.mean), repr(s.stdev)) for s in cfg.summaries],
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(figures).encode()).hexdigest()


def _measurements(conn: sqlite3.Connection) -> dict[str, str]:
    """measurement -> campaign of every configuration imported so far."""
    return {
        m: name
        for m, name in conn.execute(
            "SELECT json_extract(j.describe, '$.measurement'), c.name FROM jobs j"
            " JOIN campaigns c ON j.campaign_id = c.id WHERE j.import_id IS NOT NULL"
        )
        if m is not None
    }


def _campaign_id(conn: sqlite3.Connection, name: str, command: str | None) -> int:
    row = conn.execute("SELECT id FROM campaigns WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    cur = conn.execute(
        "INSERT INTO campaigns(name, created_at, command) VALUES (?, ?, ?)",
        (name, time.time(), command),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _store_file(
    conn: sqlite3.Connection,
    f: ReadFile,
    configs: list[tuple[ImportedConfig, Workload]],
    campaign: str,
    device_label: str | None,
    command: str | None,
) -> Outcome:
    now = time.time()
    campaign_id = _campaign_id(conn, campaign, command)
    cur = conn.execute(
        "INSERT INTO imports(sha256, path, format, backend, size, raw, imported_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (f.sha256, os.path.abspath(f.path), f.results.format, f.backend, f.size, f.text, now),
    )
    import_id = cur.lastrowid
    outcome = Outcome(path=f.path, format=f.results.format, campaign=campaign)
    for cfg, workload in configs:
        facts = cfg.facts or DeviceFacts(name=DEFAULT_DEVICE, kind="imported")
        device = device_label or facts.name or DEFAULT_DEVICE
        facts = evolve(facts, name=device, kind="imported")
        job = Job(
            backend=cfg.backend,
            quant=cfg.quant,
            model=cfg.model,
            device=device,
            workload=workload,
            runs=max([len(cfg.runs)] + [s.n for s in cfg.summaries] + [1]),
            warmup=0,
            options=dict(cfg.options),
        )
        describe = {
            **cfg.describe,
            "imported_from": f.path,
            "source_sha256": f.sha256,
            "import_format": f.results.format,
            "measurement": measurement(cfg, workload),
            "warmup": "unknown (imported: the file does not say)",
        }
        cur = conn.execute(
            "INSERT INTO jobs(campaign_id, config_key, backend, quant, model, device, workload,"
            " runs, warmup, options, facts, describe, started_at, finished_at, status, import_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                campaign_id, job.config_key(), job.backend, job.quant, job.model, job.device,
                dumps(job.workload), job.runs, 0, json.dumps(job.options, sort_keys=True),
                dumps(facts), json.dumps(describe, sort_keys=True), now, now, "imported",
                import_id,
            ),
        )  # fmt: skip
        job_id = cur.lastrowid
        for index, run in enumerate(cfg.runs):
            ok = run.metrics is not None and run.error is None
            if run.metrics is not None and run.metrics.prompt_tokens == run.metrics.gen_tokens == 0:
                # The file held rates without counts; the counts are the workload's.
                run = evolve(
                    run,
                    metrics=evolve(
                        run.metrics,
                        prompt_tokens=workload.prompt_tokens,
                        gen_tokens=workload.gen_tokens,
                    ),
                )
            conn.execute(
                "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, exit_code, wall_s,"
                " timed_out, peak_rss_bytes, cpu_s, metrics, error, before, after, created_at)"
                " VALUES (?,?,0,?,?,?,'',NULL,?,0,?,NULL,?,?,NULL,NULL,?)",
                (
                    job_id, index, int(ok), json.dumps(["import", f.path, f"line {run.line}"]),
                    run.source, run.wall_s if math.isfinite(run.wall_s) else 0.0,
                    run.metrics.peak_rss_bytes if run.metrics is not None else None,
                    dumps(run.metrics) if run.metrics is not None else None, run.error, now,
                ),
            )  # fmt: skip
            outcome = evolve(
                outcome, runs=outcome.runs + 1, failed_runs=outcome.failed_runs + (not ok)
            )
        for s in cfg.summaries:
            conn.execute(
                "INSERT INTO summaries(job_id, metric, n, mean, stdev) VALUES (?,?,?,?,?)",
                (job_id, s.metric, s.n, s.mean, s.stdev if math.isfinite(s.stdev) else None),
            )
        outcome = evolve(
            outcome, configs=outcome.configs + 1, summaries=outcome.summaries + len(cfg.summaries)
        )
    return outcome
