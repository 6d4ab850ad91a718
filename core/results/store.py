"""The results store: one SQLite file, every run written the moment it ends.

Each ``bench`` invocation (or study) is a *campaign*; a campaign holds jobs
(one configuration on one device) and a job holds its runs, warm-ups marked
as such, each with its raw runner output so a failure can be diagnosed and
a parser fixed later without measuring again.  The store only stores: it
returns what was stored (:class:`StoredConfig`); statistics and reports are
built from that by :mod:`pocketbench.core.results.report`.  The file's schema
and its migrations are :mod:`pocketbench.core.results.schema`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from pocketbench.core.api.bandwidth import DeviceBandwidth, JobBandwidth
from pocketbench.core.api.errors import StoreError, unknown_choice
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
from pocketbench.core.kit.convert import dumps, loads
from pocketbench.core.kit.identity import Holder
from pocketbench.core.results import whereabouts
from pocketbench.core.results.migrations import slot
from pocketbench.core.results.quality import QualityRecord
from pocketbench.core.results.schema import DEFAULT_DB, connect


@frozen(kw_only=True)
class StoredConfig:
    """One configuration (backend x quant x model x device x workload) of one campaign, as stored.

    Its jobs (a configuration resumed is several) are merged: their runs in
    order, their device facts and descriptions (the newest wins).
    """

    campaign: str
    config_key: str
    backend: str
    quant: str
    model: str
    device: str
    workload: Workload
    #: The backend options the configuration ran with (part of its identity).
    options: dict[str, str] = field(factory=dict)
    facts: DeviceFacts | None = None
    #: Tool versions, build commits, model hashes (from the backend's prepare).
    describe: dict[str, str] = field(factory=dict)
    #: Measured runs as stored (raw output included), in order, failed ones included.
    records: tuple[RunRecord, ...] = ()
    #: Warm-up runs as stored.
    warmups: tuple[RunRecord, ...] = ()
    started_at: float = 0.0
    #: For results read by ``bench import``: the file's path, sha256, format and import time.
    imported: dict[str, str] | None = None
    #: Figures an imported file held only as mean ± sd (no runs).
    imported_summaries: tuple[ImportedSummary, ...] = ()
    #: Output quality against a reference (``--quality``), when measured.
    quality: QualityRecord | None = None
    #: Bytes per decode step and the device's measured bandwidth, as stored with the job.
    stored_bandwidth: JobBandwidth | None = None
    #: Measured run index -> the device that measured it (its job's facts): a
    #: configuration of a shard pool, or resumed on another phone, spans several.
    run_devices: dict[int, str] = field(factory=dict)


class _Transaction:
    def __init__(
        self, conn: sqlite3.Connection, path: Path, opened: whereabouts.FileId | None
    ) -> None:
        self.conn = conn
        self.path = path
        self.opened = opened

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if not exc_type:
            # The file moved or deleted under us: stop and say where the runs are.
            here = whereabouts.check(self.conn, self.path, self.opened)
            self.conn.execute("COMMIT")
            if not here:
                assert self.opened is not None
                raise whereabouts.moved(self.conn, self.path, self.opened)
            return
        # SQLite may have rolled back by itself (disk full): nothing to undo then.
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")


#: Campaigns in the order they were measured.  One dated in the future (a
#: phone or host with a wrong clock) counts as older than all the others, so
#: it cannot hide every campaign measured after it; ``bench report`` says so.
CAMPAIGN_ORDER = (
    "CASE WHEN c.created_at > (julianday('now') - 2440587.5) * 86400.0 + 300"
    " THEN -1 ELSE c.created_at END"
)


class Store:
    """A results database.  Use :meth:`open`; one instance per thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, read_only: bool = False) -> None:
        self._conn = conn
        self.path = path
        #: The file opened for writing, to notice it being moved or deleted.
        self._opened: whereabouts.FileId | None = None
        self._campaign_id: int | None = None
        self._campaign: tuple[str, str | None] | None = None
        self._design: str | None = None
        self.read_only = read_only
        self._slots: dict[int, str] = {}

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = DEFAULT_DB,
        *,
        create: bool = True,
        write: bool = True,
        option: str = "--db",
    ) -> Store:
        """Open (or, with ``create``, make) a results file (:func:`~pocketbench.core.results.schema.connect`)."""
        conn, read_only = connect(path, create=create, write=write, option=option)
        store = cls(conn, Path(path), read_only=read_only)
        if not read_only:
            store._opened = whereabouts.file_id(Path(path))
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------

    def campaign(
        self, name: str | None = None, command: str | None = None, design: str | None = None
    ) -> str:
        """Select the campaign new jobs go to; returns its name.

        The campaign is written with its first job, so a command that fails
        before measuring anything leaves no empty campaign behind.  ``design``
        (the order of its runs and the seed, as JSON) is kept with it the
        first time it is given; a resumed campaign keeps the one it had.
        """
        if name is None:
            name = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime()) + f".{os.getpid()}"
        self._campaign = (name, command)
        self._design = design
        self._campaign_id = None
        return name

    def campaign_design(self, name: str) -> str | None:
        """The design a campaign was measured with (JSON text), None when it has none."""
        row = self._conn.execute("SELECT design FROM campaigns WHERE name = ?", (name,)).fetchone()
        return None if row is None else row["design"]

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
                self._campaign_id = cur.lastrowid
            else:
                self._campaign_id = row["id"]
            if self._design is not None:
                c.execute(
                    "UPDATE campaigns SET design = ? WHERE id = ? AND design IS NULL",
                    (self._design, self._campaign_id),
                )
        assert self._campaign_id is not None
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
        with self.transaction("starting a job") as c:
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
        with self.transaction(f"storing {what}", index=record.index) as c:
            c.execute(
                "INSERT INTO runs(job_id, idx, warmup, ok, argv, stdout, stderr, exit_code, wall_s,"
                " timed_out, peak_rss_bytes, cpu_s, metrics, error, before, after, created_at,"
                " slot, trace, round, position)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    record.round,
                    record.position,
                ),
            )

    def add_quality(self, job_id: int, record: QualityRecord) -> None:
        """Store a configuration's quality figures (its own transaction)."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO quality(job_id, record, created_at) VALUES (?, ?, ?)",
                (job_id, dumps(record), time.time()),
            )

    def has_quality(self, campaign: str, config_key: str) -> bool:
        row = self._conn.execute(
            "SELECT COUNT(*) AS n FROM quality q JOIN jobs j ON q.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id WHERE c.name = ? AND j.config_key = ?",
            (campaign, config_key),
        ).fetchone()
        return bool(row["n"])

    def _quality(self, job_ids: list[int]) -> QualityRecord | None:
        marks = ",".join("?" * len(job_ids))
        row = self._conn.execute(
            f"SELECT record FROM quality WHERE job_id IN ({marks}) ORDER BY id DESC LIMIT 1",
            job_ids,
        ).fetchone()
        return loads(row["record"], QualityRecord) if row else None

    def add_probes(self, job_ids: list[int], probe: DeviceBandwidth) -> None:
        """Keep a later probe of these jobs' placement with each of them (see JobBandwidth.later)."""
        with self.transaction("storing a bandwidth probe") as c:
            for job_id in job_ids:
                row = c.execute("SELECT bandwidth FROM jobs WHERE id = ?", (job_id,)).fetchone()
                stored = loads(row["bandwidth"], JobBandwidth) if row and row["bandwidth"] else None
                if stored is None:
                    continue
                stored = attrs.evolve(stored, later=(*stored.later, probe))
                c.execute("UPDATE jobs SET bandwidth = ? WHERE id = ?", (dumps(stored), job_id))

    def finish_job(self, job_id: int, status: str, error: str | None = None) -> None:
        with self.transaction("finishing a job") as c:
            c.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                (status, error, time.time(), job_id),
            )

    def _slot(self, c: sqlite3.Connection, job_id: int) -> str:
        if job_id not in self._slots:
            row = c.execute(
                "SELECT campaign_id, config_key FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            self._slots[job_id] = slot(row["campaign_id"], row["config_key"])
        return self._slots[job_id]

    @contextlib.contextmanager
    def transaction(
        self, doing: str | None = None, *, index: int | None = None
    ) -> Iterator[sqlite3.Connection]:
        """One write transaction (``with store.transaction() as conn:``), rolled back on error.

        With ``doing`` ("storing run 3"), a failed write is one line naming the
        store and the cause (disk full, I/O error, a run index already stored).
        """
        try:
            with _Transaction(self._conn, self.path, self._opened) as conn:
                yield conn
        except sqlite3.IntegrityError as exc:
            if doing is None:
                raise
            raise StoreError(
                f"{doing} in {self.path}: run index {index} of this configuration is already"
                f" stored ({exc}); another process measured it; nothing was overwritten"
            ) from exc
        except (sqlite3.DatabaseError, OSError) as exc:
            if doing is None:
                raise
            raise StoreError(
                f"cannot write to results database {self.path} while {doing} ({exc}): it was not"
                " stored; the runs stored before it are kept; free space (or fix the file's"
                " permissions) and run the same command again to resume"
            ) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query, by column name (the store's companions: claims, phones)."""
        return self._conn.execute(sql, params).fetchall()

    # -- reading --------------------------------------------------------------

    def next_index(self, campaign: str, config_key: str) -> int:
        """The index the next measured run of a configuration gets (indices are unique)."""
        row = self._conn.execute(
            "SELECT MAX(r.idx) AS last FROM runs r JOIN jobs j ON r.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id"
            " WHERE c.name = ? AND j.config_key = ? AND r.warmup = 0",
            (campaign, config_key),
        ).fetchone()
        return 0 if row["last"] is None else int(row["last"]) + 1

    def stored_rounds(self, campaign: str, config_key: str) -> set[int]:
        """The interleaved rounds in which a configuration has a successful measured run."""
        rows = self._conn.execute(
            "SELECT DISTINCT r.round FROM runs r JOIN jobs j ON r.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id WHERE c.name = ? AND j.config_key = ?"
            " AND r.warmup = 0 AND r.ok = 1 AND r.round IS NOT NULL",
            (campaign, config_key),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def run_places(self, campaign: str, device: str) -> dict[tuple[str, int], int]:
        """Every measured run of ``device`` in ``campaign``, (config key, run index) -> its place in
        time there (0 for the first stored, whatever its configuration)."""
        rows = self._conn.execute(
            "SELECT j.config_key, r.idx FROM runs r JOIN jobs j ON r.job_id = j.id"
            " JOIN campaigns c ON j.campaign_id = c.id"
            " WHERE c.name = ? AND j.device = ? AND r.warmup = 0 ORDER BY r.id",
            (campaign, device),
        ).fetchall()
        return {(key, int(idx)): place for place, (key, idx) in enumerate(rows)}

    def completed_runs(self, campaign: str, config_key: str) -> tuple[int, int]:
        """(successful measured runs, warm-ups) already stored for a configuration."""
        row = self._conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN r.warmup = 0 AND r.ok = 1 THEN 1 ELSE 0 END), 0) AS ok,"
            " COALESCE(SUM(r.warmup), 0) AS warmups"
            " FROM runs r JOIN jobs j ON r.job_id = j.id JOIN campaigns c ON j.campaign_id = c.id"
            " WHERE c.name = ? AND j.config_key = ?",
            (campaign, config_key),
        ).fetchone()
        return int(row["ok"]), int(row["warmups"])

    def campaigns(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT c.name, c.created_at, c.command, COUNT(DISTINCT j.config_key) AS configurations"
            " FROM campaigns c LEFT JOIN jobs j ON j.campaign_id = c.id"
            f" GROUP BY c.id ORDER BY {CAMPAIGN_ORDER}, c.id"
        ).fetchall()
        return [dict(row) for row in rows]

    def stored(self, campaign: str | None = None) -> list[StoredConfig]:
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
                raise unknown_choice("campaign", campaign, sorted(known))
            where = "WHERE c.name = ?"
            params = (campaign,)
        jobs = self._conn.execute(
            "SELECT j.id, c.name AS campaign, j.config_key, j.backend, j.quant, j.model,"
            " j.device, j.workload, j.facts, j.describe, j.started_at, j.options, j.import_id,"
            f" j.bandwidth FROM jobs j JOIN campaigns c ON j.campaign_id = c.id {where}"
            f" ORDER BY {CAMPAIGN_ORDER}, c.id, j.id",
            params,
        ).fetchall()
        grouped: dict[tuple[str, str], list[sqlite3.Row]] = {}
        for row in jobs:
            grouped.setdefault((row["campaign"], row["config_key"]), []).append(row)
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
            run_devices: dict[int, str] = {}
            for row in rows:
                describe.update(json.loads(row["describe"] or "{}"))
                job_facts = loads(row["facts"], DeviceFacts)
                facts = job_facts or facts
                bandwidth = loads(row["bandwidth"], JobBandwidth) or bandwidth
                for rec in self._runs(row["id"]):
                    (warmups if rec.warmup else runs).append(rec)
                    if not rec.warmup:
                        run_devices[rec.index] = job_facts.name if job_facts else row["device"]
                summaries.extend(self._summaries(row["id"]))
            first = rows[0]
            configs.append(
                StoredConfig(
                    campaign=camp,
                    config_key=key,
                    backend=first["backend"],
                    quant=first["quant"],
                    model=first["model"],
                    device=first["device"],
                    workload=loads(first["workload"], Workload),  # type: ignore[arg-type]
                    options=json.loads(first["options"] or "{}"),
                    facts=facts,
                    describe=describe,
                    records=tuple(runs),
                    warmups=tuple(warmups),
                    started_at=first["started_at"],
                    imported=self._import_info(first["import_id"]),
                    imported_summaries=tuple(summaries),
                    quality=self._quality([row["id"] for row in rows]),
                    stored_bandwidth=bandwidth,
                    run_devices=run_devices,
                )
            )
        return configs

    def _summaries(self, job_id: int) -> list[ImportedSummary]:
        rows = self._conn.execute(
            "SELECT metric, n, mean, stdev FROM summaries WHERE job_id = ? ORDER BY metric",
            (job_id,),
        ).fetchall()
        return [
            ImportedSummary(
                metric=r["metric"],
                n=r["n"],
                mean=r["mean"],
                stdev=math.nan if r["stdev"] is None else r["stdev"],
            )
            for r in rows
        ]

    def _import_info(self, import_id: int | None) -> dict[str, str] | None:
        if import_id is None:
            return None
        row = self._conn.execute(
            "SELECT path, sha256, format, imported_at FROM imports WHERE id = ?", (import_id,)
        ).fetchone()
        if row is None:
            return None
        return {
            "path": row["path"],
            "sha256": row["sha256"],
            "format": row["format"],
            "imported_at": str(row["imported_at"]),
        }

    def _runs(self, job_id: int) -> Iterator[RunRecord]:
        for row in self._conn.execute(
            "SELECT idx, warmup, argv, stdout, stderr, exit_code, wall_s, timed_out,"
            " peak_rss_bytes, cpu_s, metrics, error, before, after, trace, round, position"
            " FROM runs WHERE job_id = ? ORDER BY id",
            (job_id,),
        ):
            yield RunRecord(
                index=row["idx"],
                warmup=bool(row["warmup"]),
                result=ProcessResult(
                    argv=tuple(json.loads(row["argv"])),
                    stdout=row["stdout"],
                    stderr=row["stderr"],
                    exit_code=row["exit_code"],
                    wall_s=row["wall_s"],
                    timed_out=bool(row["timed_out"]),
                    peak_rss_bytes=row["peak_rss_bytes"],
                    cpu_s=row["cpu_s"],
                ),
                metrics=loads(row["metrics"], Metrics),
                error=row["error"],
                before=loads(row["before"], Readings),
                after=loads(row["after"], Readings),
                trace=loads(row["trace"], RunTrace),
                round=row["round"],
                position=row["position"],
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
