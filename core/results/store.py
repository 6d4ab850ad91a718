"""The results store: one SQLite file, every run written the moment it ends.

Each ``bench`` invocation (or study) is a *campaign*; a campaign holds jobs
(one configuration on one device) and a job holds its runs, warm-ups marked
as such, each with its raw runner output so a failure can be diagnosed and
a parser fixed later without measuring again.  The schema version is kept
in ``PRAGMA user_version``; a file from a newer pocketbench is refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pocketbench.core.api.bandwidth import JobBandwidth
from pocketbench.core.api.convert import dumps, loads
from pocketbench.core.api.errors import StoreError
from pocketbench.core.api.identity import Holder
from pocketbench.core.api.imported import ImportedSummary
from pocketbench.core.api.model import (
    DeviceFacts,
    Job,
    Metrics,
    ProcessResult,
    Readings,
    RunRecord,
    Workload,
)
from pocketbench.core.api.power import RunTrace
from pocketbench.core.results import whereabouts
from pocketbench.core.results.migrations import slot, to_claims
from pocketbench.core.results.quality import QualityRecord
from pocketbench.core.results.report import ConfigReport, with_statistics

SCHEMA_VERSION = 6
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
}


#: Campaigns in the order they were measured.  One dated in the future (a
#: phone or host with a wrong clock) counts as older than all the others, so
#: it cannot hide every campaign measured after it; ``bench report`` says so.
CAMPAIGN_ORDER = (
    "CASE WHEN c.created_at > (julianday('now') - 2440587.5) * 86400.0 + 300"
    " THEN -1 ELSE c.created_at END"
)


class Store:
    """A results database.  Use :meth:`open`; one instance per thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        #: The file opened for writing, to notice it being moved or deleted.
        self._opened: whereabouts.FileId | None = None
        self._campaign_id: int | None = None
        self._campaign: tuple[str, str | None] | None = None
        self.read_only = False
        self._slots: dict[int, str] = {}

    # -- opening --------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = DEFAULT_DB,
        *,
        create: bool = True,
        write: bool = True,
        option: str = "--db",
    ) -> Store:
        """Open (or, with ``create``, make) a results file.

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
            return cls._open_read_only(path)
        try:
            conn = sqlite3.connect(
                path, timeout=60.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 60000")
            store = cls(conn, path)
            store._check_and_migrate()
            store._opened = whereabouts.file_id(path)
        except sqlite3.DatabaseError as exc:
            raise _open_error(path, exc, option) from exc
        return store

    @classmethod
    def _open_read_only(cls, path: Path) -> Store:
        uri = path.resolve().as_uri()
        try:
            try:
                conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # A WAL file on a read-only mount cannot make its shared-memory
                # index; nobody can write there, so it is read as immutable.
                conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
            store = cls(conn, path)
            store.read_only = True
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _open_error(path, exc, "--db") from exc
        store._check_version(app_id, version)
        if version < SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{path} has schema {version} and needs a migration to schema {SCHEMA_VERSION},"
                " which needs write access: run any bench command on it once as a user who can"
                " write it and its directory (or copy it somewhere writable and pass --db)"
            )
        return store

    def _check_and_migrate(self) -> None:
        c = self._conn
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
        self._check_version(app_id, version)
        self._wal()

    def _check_version(self, app_id: int, version: int) -> None:
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path} is an SQLite file of another program, not a pocketbench results"
                " database; pass another file with --db"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer pocketbench (schema {version}, this one reads"
                f" up to {SCHEMA_VERSION}); upgrade pocketbench or use another --db"
            )

    def _wal(self) -> None:
        # WAL lets several bench processes read and write one file safely.  The
        # switch needs a moment alone with the file, which busy_timeout does not
        # wait for: retry briefly.
        deadline = time.monotonic() + 60
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Tx:
        def __init__(self, conn: sqlite3.Connection, store: Store) -> None:
            self.conn = conn
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, exc_type: object, *rest: object) -> None:
            if not exc_type:
                # The file moved or deleted under us: stop and say where the runs are.
                opened = self.store._opened
                here = whereabouts.check(self.conn, self.store.path, opened)
                self.conn.execute("COMMIT")
                if not here:
                    assert opened is not None
                    raise whereabouts.moved(self.conn, self.store.path, opened)
                return
            # SQLite may have rolled back by itself (disk full): nothing to undo then.
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def _tx(self) -> Store._Tx:
        return Store._Tx(self._conn, self)

    def transaction(self) -> Store._Tx:
        """One write transaction (``with store.transaction() as conn:``); rolled back on error."""
        return self._tx()

    # -- writing --------------------------------------------------------------

    def campaign(self, name: str | None = None, command: str | None = None) -> str:
        """Select the campaign new jobs go to; returns its name.

        The campaign is written with its first job, so a command that fails
        before measuring anything leaves no empty campaign behind.
        """
        if name is None:
            name = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + f".{os.getpid()}"
        self._campaign = (name, command)
        self._campaign_id = None
        return name

    def _campaign_row(self, c: sqlite3.Connection) -> int:
        if self._campaign_id is None:
            if self._campaign is None:
                self.campaign()
            assert self._campaign is not None
            name, command = self._campaign
            row = c.execute("SELECT id FROM campaigns WHERE name = ?", (name,)).fetchone()
            if row is None:
                cur = c.execute(
                    "INSERT INTO campaigns(name, created_at, command) VALUES (?, ?, ?)",
                    (name, time.time(), command),
                )
                row = (cur.lastrowid,)
            self._campaign_id = row[0]
        return self._campaign_id

    def start_job(
        self,
        job: Job,
        facts: DeviceFacts | None,
        describe: dict[str, str],
        holder: Holder | None = None,
        *,
        bandwidth: JobBandwidth | None = None,
    ) -> int:
        """Record a job as running, by ``holder`` (default: this process), with its bandwidth."""
        holder = holder or Holder.me()
        with self._writing("starting a job"), self._tx() as c:
            campaign_id = self._campaign_row(c)
            cur = c.execute(
                "INSERT INTO jobs(campaign_id, config_key, backend, quant, model, device, workload,"
                " runs, warmup, options, facts, describe, started_at, holder, heartbeat, bandwidth)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    campaign_id,
                    job.config_key(),
                    job.backend,
                    job.quant,
                    job.model,
                    job.device,
                    dumps(job.workload),
                    job.runs,
                    job.warmup,
                    json.dumps(job.options, sort_keys=True),
                    dumps(facts) if facts is not None else None,
                    json.dumps(describe, sort_keys=True),
                    time.time(),
                    holder_json(holder),
                    time.time(),
                    dumps(bandwidth) if bandwidth is not None else None,
                ),
            )
            assert cur.lastrowid is not None
            self._slots[cur.lastrowid] = slot(campaign_id, job.config_key())
            return cur.lastrowid

    def add_run(self, job_id: int, record: RunRecord) -> None:
        """Write one run at once (its own transaction): a crash later loses nothing."""
        r = record.result
        what = f"{'warm-up' if record.warmup else 'run'} {record.index + 1}"
        with self._writing(f"storing {what}", index=record.index), self._tx() as c:
            c.execute(
                "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, exit_code, wall_s,"
                " timed_out, peak_rss_bytes, cpu_s, metrics, error, before, after, created_at,"
                " slot, trace)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    record.index,
                    int(record.warmup),
                    int(record.ok),
                    json.dumps(list(r.argv)),
                    r.stdout,
                    r.stderr,
                    r.exit_code,
                    r.wall_s,
                    int(r.timed_out),
                    r.peak_rss_bytes,
                    r.cpu_s,
                    dumps(record.metrics) if record.metrics is not None else None,
                    record.error,
                    dumps(record.before) if record.before is not None else None,
                    dumps(record.after) if record.after is not None else None,
                    time.time(),
                    None if record.warmup else self._slot(c, job_id),
                    dumps(record.trace) if record.trace is not None else None,
                ),
            )

    def add_quality(self, job_id: int, record: QualityRecord) -> None:
        """Store a configuration's quality figures (its own transaction)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO quality(job_id, record, created_at) VALUES (?, ?, ?)",
                (job_id, dumps(record), time.time()),
            )

    def has_quality(self, campaign: str, config_key: str) -> bool:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM quality q JOIN jobs j ON q.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id WHERE c.name = ? AND j.config_key = ?",
            (campaign, config_key),
        ).fetchone()
        return bool(row[0])

    def _quality(self, job_ids: list[int]) -> QualityRecord | None:
        marks = ",".join("?" * len(job_ids))
        row = self._conn.execute(
            f"SELECT record FROM quality WHERE job_id IN ({marks}) ORDER BY id DESC LIMIT 1",
            job_ids,
        ).fetchone()
        return loads(row[0], QualityRecord) if row else None

    def finish_job(self, job_id: int, status: str, error: str | None = None) -> None:
        with self._writing("finishing a job"), self._tx() as c:
            c.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                (status, error, time.time(), job_id),
            )

    def _slot(self, c: sqlite3.Connection, job_id: int) -> str:
        if job_id not in self._slots:
            row = c.execute("SELECT campaign_id, config_key FROM jobs WHERE id = ?", (job_id,))
            campaign_id, key = row.fetchone()
            self._slots[job_id] = slot(campaign_id, key)
        return self._slots[job_id]

    @contextlib.contextmanager
    def _writing(self, action: str, index: int | None = None) -> Iterator[None]:
        """A failed write is one line naming the store and the cause (disk full, I/O error)."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"{action} in {self.path}: run index {index} of this configuration is already"
                f" stored ({exc}); another process measured it; nothing was overwritten"
            ) from exc
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(
                f"cannot write to results database {self.path} while {action} ({exc}): it was not"
                " stored; the runs stored before it are kept; free space (or fix the file's"
                " permissions) and run the same command again to resume"
            ) from exc

    # -- reading --------------------------------------------------------------

    def next_index(self, campaign: str, config_key: str) -> int:
        """The index the next measured run of a configuration gets (indices are unique)."""
        row = self._conn.execute(
            "SELECT MAX(r.idx) FROM runs r JOIN jobs j ON r.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id"
            " WHERE c.name = ? AND j.config_key = ? AND r.warmup = 0",
            (campaign, config_key),
        ).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def completed_runs(self, campaign: str, config_key: str) -> tuple[int, int]:
        """(successful measured runs, warm-ups) already stored for a configuration."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN r.warmup = 0 AND r.ok = 1 THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(r.warmup), 0)"
            " FROM runs r JOIN jobs j ON r.job_id = j.id JOIN campaigns c ON j.campaign_id = c.id"
            " WHERE c.name = ? AND j.config_key = ?",
            (campaign, config_key),
        ).fetchone()
        return int(row[0]), int(row[1])

    def campaigns(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT c.name, c.created_at, c.command, COUNT(DISTINCT j.config_key)"
            " FROM campaigns c LEFT JOIN jobs j ON j.campaign_id = c.id"
            f" GROUP BY c.id ORDER BY {CAMPAIGN_ORDER}, c.id"
        ).fetchall()
        return [
            {"name": n, "created_at": t, "command": cmd, "configurations": k}
            for n, t, cmd, k in rows
        ]

    def configurations(self, campaign: str | None = None) -> list[ConfigReport]:
        """Stored configurations with their runs.

        With ``campaign``, that campaign's configurations.  Without, every
        configuration in the file, each from the newest campaign that measured
        it (runs from different sessions are never pooled: conditions differ).
        """
        params: tuple[Any, ...] = ()
        where = ""
        if campaign is not None:
            known = {c["name"] for c in self.campaigns()}
            if campaign not in known:
                from pocketbench.core.api.errors import unknown_choice

                raise unknown_choice("campaign", campaign, sorted(known))
            where = "WHERE c.name = ?"
            params = (campaign,)
        jobs = self._conn.execute(
            "SELECT j.id, c.name, c.created_at, j.config_key, j.backend, j.quant, j.model,"
            " j.device, j.workload, j.facts, j.describe, j.started_at, j.options, j.import_id,"
            f" j.bandwidth FROM jobs j JOIN campaigns c ON j.campaign_id = c.id {where}"
            f" ORDER BY {CAMPAIGN_ORDER}, c.id, j.id",
            params,
        ).fetchall()
        grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for row in jobs:
            grouped.setdefault((row[1], row[3]), []).append(row)
        newest: dict[str, tuple[str, str]] = {}
        for camp, key in grouped:
            newest[key] = (camp, key)  # rows are in campaign order: the last wins
        configs = []
        for camp, key in dict.fromkeys(newest.values()):
            rows = grouped[(camp, key)]
            runs: list[RunRecord] = []
            warmups: list[RunRecord] = []
            describe: dict[str, str] = {}
            facts = None
            summaries: list[ImportedSummary] = []
            bandwidth = None
            for row in rows:
                describe.update(json.loads(row[10] or "{}"))
                facts = loads(row[9], DeviceFacts) or facts
                bandwidth = loads(row[14], JobBandwidth) or bandwidth
                for rec in self._runs(row[0]):
                    (warmups if rec.warmup else runs).append(rec)
                summaries.extend(self._summaries(row[0]))
            first = rows[0]
            configs.append(
                with_statistics(
                    ConfigReport(
                        campaign=camp,
                        config_key=key,
                        backend=first[4],
                        quant=first[5],
                        model=first[6],
                        device=first[7],
                        workload=loads(first[8], Workload),  # type: ignore[arg-type]
                        options=json.loads(first[12] or "{}"),
                        facts=facts,
                        describe=describe,
                        records=tuple(runs),
                        warmups=tuple(warmups),
                        started_at=first[11],
                        imported=self._import_info(first[13]),
                        quality=self._quality([row[0] for row in rows]),
                        stored_bandwidth=bandwidth,
                    ),
                    summaries,
                )
            )
        return configs

    def _summaries(self, job_id: int) -> list[ImportedSummary]:
        rows = self._conn.execute(
            "SELECT metric, n, mean, stdev FROM summaries WHERE job_id = ? ORDER BY metric",
            (job_id,),
        ).fetchall()
        return [
            ImportedSummary(metric=m, n=n, mean=mean, stdev=math.nan if sd is None else sd)
            for m, n, mean, sd in rows
        ]

    def _import_info(self, import_id: int | None) -> dict[str, str] | None:
        if import_id is None:
            return None
        row = self._conn.execute(
            "SELECT path, sha256, format, imported_at FROM imports WHERE id = ?", (import_id,)
        ).fetchone()
        if row is None:
            return None
        return {"path": row[0], "sha256": row[1], "format": row[2], "imported_at": str(row[3])}

    def _runs(self, job_id: int) -> Iterator[RunRecord]:
        for row in self._conn.execute(
            "SELECT idx, warmup, argv, stdout, stderr, exit_code, wall_s, timed_out,"
            " peak_rss_bytes, cpu_s, metrics, error, before, after, trace"
            " FROM runs WHERE job_id = ? ORDER BY id",
            (job_id,),
        ):
            yield RunRecord(
                index=row[0],
                warmup=bool(row[1]),
                result=ProcessResult(
                    argv=tuple(json.loads(row[2])),
                    stdout=row[3],
                    stderr=row[4],
                    exit_code=row[5],
                    wall_s=row[6],
                    timed_out=bool(row[7]),
                    peak_rss_bytes=row[8],
                    cpu_s=row[9],
                ),
                metrics=loads(row[10], Metrics),
                error=row[11],
                before=loads(row[12], Readings),
                after=loads(row[13], Readings),
                trace=loads(row[14], RunTrace),
            )


def holder_json(holder: Holder) -> str:
    return json.dumps(
        {
            "host": holder.host,
            "pid": holder.pid,
            "start": holder.start,
            "command": holder.command,
            "since": holder.since,
        },
        sort_keys=True,
    )


def holder_from(text: str | None, heartbeat: float | None) -> Holder | None:
    if not text:
        return None
    d = json.loads(text)
    return Holder(
        d["host"],
        int(d["pid"]),
        d.get("start", ""),
        d.get("command", ""),
        float(d.get("since", 0.0)),
        float(heartbeat or 0.0),
    )


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


def _open_error(path: Path, exc: sqlite3.DatabaseError, option: str) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "not a database" not in str(exc):
        return StoreError(
            f"cannot open or write results database {path} ({exc}); choose another path for"
            f" {option}"
        )
    return StoreError(
        f"{path} is not a pocketbench results database ({exc}); pass another file as {option}"
    )
