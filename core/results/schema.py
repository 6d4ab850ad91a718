"""The results file itself: its schema, the steps that migrate an older one, and opening it.

The schema version is kept in ``PRAGMA user_version`` and the file is marked
as ours by ``PRAGMA application_id``; a file from a newer pocketbench, or
another program's SQLite file, is refused with one line.  Rows are read by
column name (:class:`sqlite3.Row`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from pocketbench.core.api.errors import StoreError
from pocketbench.core.results.migrations import to_claims

SCHEMA_VERSION = 7
APPLICATION_ID = 0x50434B42  # "PCKB": tells our files from other SQLite files
DEFAULT_DB = "pocketbench.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    command TEXT
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    config_key TEXT NOT NULL,
    backend TEXT NOT NULL,
    quant TEXT NOT NULL,
    model TEXT NOT NULL,
    device TEXT NOT NULL,
    workload TEXT NOT NULL,
    runs INTEGER NOT NULL,
    warmup INTEGER NOT NULL,
    options TEXT NOT NULL,
    facts TEXT,
    describe TEXT,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL DEFAULT 'running',
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs(campaign_id, config_key);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    warmup INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    argv TEXT NOT NULL,
    stdout TEXT NOT NULL,
    stderr TEXT NOT NULL,
    exit_code INTEGER,
    wall_s REAL NOT NULL,
    timed_out INTEGER NOT NULL,
    peak_rss_bytes INTEGER,
    cpu_s REAL,
    metrics TEXT,
    error TEXT,
    before TEXT,
    after TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs(job_id);
"""

# -- migration 2: imported results (bench import) -------------------------------
# One file imported once (its sha256 is its identity), with its raw text; the
# jobs made from it point at it; figures a file holds only as mean ± sd live in
# summaries, never as invented runs.
_MIGRATION_IMPORTS = """
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    format TEXT NOT NULL,
    backend TEXT NOT NULL,
    size INTEGER NOT NULL,
    raw TEXT NOT NULL,
    imported_at REAL NOT NULL
);
ALTER TABLE jobs ADD COLUMN import_id INTEGER REFERENCES imports(id);
CREATE TABLE summaries (
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    metric TEXT NOT NULL,
    n INTEGER NOT NULL,
    mean REAL NOT NULL,
    stdev REAL,
    PRIMARY KEY (job_id, metric)
);
"""
#: Schema version -> the statements that bring the previous version to it.
# -- migration 3: quality beside speed (--quality): one row per measured configuration.
_MIGRATION_QUALITY = """
CREATE TABLE IF NOT EXISTS quality (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    record TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS quality_by_job ON quality(job_id);
"""
#: Schema version -> the statements that bring the previous version to it.
_MIGRATIONS: dict[int, Any] = {
    2: _MIGRATION_IMPORTS,
    3: _MIGRATION_QUALITY,
    # 4: one measurement per configuration and device (runs' slots, leases, claims).
    4: to_claims,
    # 5: what the device recorded during a run (cores allowed, energy samples).
    5: "ALTER TABLE runs ADD COLUMN trace TEXT",
    # 6: memory bandwidth of a job (bytes per decode step, the device's measured
    # bandwidth, notes) as JSON: pocketbench.core.api.bandwidth.JobBandwidth.
    6: "ALTER TABLE jobs ADD COLUMN bandwidth TEXT",
    # 7: interleaved rounds: a run's round and place in it, a campaign's order and seed
    # (JSON: pocketbench.core.engine.rounds.Design).
    7: "ALTER TABLE runs ADD COLUMN round INTEGER; ALTER TABLE runs ADD COLUMN position INTEGER;"
    " ALTER TABLE campaigns ADD COLUMN design TEXT",
}


def connect(
    path: str | os.PathLike[str] = DEFAULT_DB,
    *,
    create: bool = True,
    write: bool = True,
    option: str = "--db",
) -> tuple[sqlite3.Connection, bool]:
    """Open (or, with ``create``, make and migrate) a results file: (connection, read-only).

    ``write=False`` is for commands that only read (report, compare): a
    file this process cannot write (permissions, a read-only mount) is
    opened read-only, and one with an old schema is refused with a line
    saying it needs a migration with write access.  ``option`` is how the
    command names the file (``--db``, ``OUT``), for the advice in errors.
    """
    path = Path(path)
    _check_kind(path, option)
    if not path.exists():
        if not create:
            raise StoreError(
                f"no results database at {path}; run a benchmark first or pass {option}"
            )
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise StoreError(
                f"cannot create results database {path}: {parent} is not a writable directory;"
                f" choose another path for {option}"
            )
    elif not _writable(path):
        if write:
            raise StoreError(
                f"results database {path} is not writable; choose another path for {option}"
            )
        return _connect_read_only(path), True
    try:
        conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 60000")
        _check_and_migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        raise _open_error(path, exc, option) from exc
    return conn, False


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL file on a read-only mount cannot make its shared-memory
            # index; nobody can write there, so it is read as immutable.
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        conn.row_factory = sqlite3.Row
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _open_error(path, exc) from exc
    _check_version(path, app_id, version)
    if version < SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{path} has schema {version} and needs a migration to schema {SCHEMA_VERSION},"
            " which needs write access: run any bench command on it once as a user who can"
            " write it and its directory (or copy it somewhere writable and pass --db)"
        )
    return conn


def _check_and_migrate(c: sqlite3.Connection, path: Path) -> None:
    # Two bench processes may create the same new file at once: look and
    # create inside one write transaction, so exactly one of them creates.
    c.execute("BEGIN IMMEDIATE")
    try:
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        version = c.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id == 0 and version == 0 and not tables:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            app_id, version = APPLICATION_ID, 1
        if app_id == APPLICATION_ID:
            for step in sorted(v for v in _MIGRATIONS if version < v <= SCHEMA_VERSION):
                step_sql = _MIGRATIONS[step]
                if callable(step_sql):
                    step_sql(c)
                else:
                    for statement in step_sql.split(";"):
                        if statement.strip():
                            c.execute(statement)
                version = step
            c.execute(f"PRAGMA user_version = {version}")
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
    _check_version(path, app_id, version)
    _wal(c)


def _check_version(path: Path, app_id: int, version: int) -> None:
    if app_id != APPLICATION_ID:
        raise StoreError(
            f"{path} is an SQLite file of another program, not a pocketbench results"
            " database; pass another file with --db"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer pocketbench (schema {version}, this one reads"
            f" up to {SCHEMA_VERSION}); upgrade pocketbench or use another --db"
        )


def _wal(conn: sqlite3.Connection) -> None:
    # WAL lets several bench processes read and write one file safely.  The
    # switch needs a moment alone with the file, which busy_timeout does not
    # wait for: retry briefly.
    deadline = time.monotonic() + 60
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _check_kind(path: Path, option: str) -> None:
    """A store must be a regular file or a new path: never a directory, device or FIFO."""
    if path.is_dir():
        raise StoreError(
            f"{option} {path} is a directory; give a file path such as {path / DEFAULT_DB}"
        )
    if path.exists() and not path.is_file():
        raise StoreError(
            f"{option} {path} is not a regular file (a device, FIFO or socket); give a file path"
            f" such as ./{DEFAULT_DB}"
        )


def _writable(path: Path) -> bool:
    """This process can write the file and make the journal files beside it."""
    parent = path.parent if str(path.parent) else Path(".")
    return os.access(path, os.W_OK) and os.access(parent, os.W_OK)


def _open_error(path: Path, exc: sqlite3.DatabaseError, option: str = "--db") -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "not a database" not in str(exc):
        return StoreError(
            f"cannot open or write results database {path} ({exc}); choose another path for"
            f" {option}"
        )
    return StoreError(
        f"{path} is not a pocketbench results database ({exc}); pass another file as {option}"
    )
