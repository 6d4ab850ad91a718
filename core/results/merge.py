"""Merging results stores: runs measured on several machines become one store.

Every run has a stable identity: its campaign and configuration, whether it
is a warm-up, its index, the moment it was stored and a hash of its raw
output.  A run whose identity the target already holds is not copied again,
so merging the same file twice adds nothing.

A source file is read, never written: one of an older schema is copied to a
temporary file and migrated there; one of a newer schema is refused.

Two campaigns sharing a name are joined when they are one study measured in
parts (the same configurations, or one's a subset of the other's, and no run
index of a shared configuration measured twice differently).  Otherwise they
differ: the source's campaign is merged under ``NAME@SOURCE`` and the
difference is reported, never silently joined.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from attrs import define, field

from pocketbench.core.api.errors import StoreError
from pocketbench.core.results.migrations import slot
from pocketbench.core.results.phones import replica_key
from pocketbench.core.results.schema import APPLICATION_ID, SCHEMA_VERSION
from pocketbench.core.results.store import Store


@define
class MergeReport:
    """What one source added."""

    source: str
    runs_added: int = 0
    runs_present: int = 0
    jobs_added: int = 0
    campaigns_added: list[str] = field(factory=list)
    #: One line per campaign that shares a name with the target's but differs.
    conflicts: list[str] = field(factory=list)

    def line(self) -> str:
        new = f", new campaigns: {', '.join(self.campaigns_added)}" if self.campaigns_added else ""
        return (
            f"{self.source}: {self.runs_added} runs added, {self.runs_present} already present"
            f" ({self.jobs_added} jobs added{new})"
        )


def run_identity(
    config_key: str, warmup: int, idx: int, created_at: float, stdout: str, imported: str | None
) -> str:
    """A run's identity, the same in every store that holds a copy of it.

    It leaves out the campaign's name, which a merge may change (``NAME@FILE``).
    An imported run (``imported``: its stored metrics) is identified by what
    was measured, not by when it was imported, which differs between stores.
    """
    h = hashlib.sha256()
    moment = "imported" if imported is not None else repr(float(created_at))
    for part in (config_key, str(warmup), str(idx), moment, stdout, imported or ""):
        h.update(part.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()


def _openable(path: Path) -> bool:
    """True when SQLite can open ``path`` read-only where it lies."""
    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as c:
            c.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def _copy_with_log(path: Path, folder: Path) -> Path:
    """``path`` and its write-ahead log copied into ``folder`` (both, so no committed run is lost)."""
    copy = folder / path.name
    shutil.copyfile(path, copy)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
    return copy


@contextlib.contextmanager
def _source(path: Path) -> Iterator[sqlite3.Connection]:
    """``path`` opened read-only at the current schema.

    An older schema is migrated in a temporary copy, never in the user's file.
    A file SQLite cannot open read-only where it lies (a WAL file on a read-only
    mount: its shared-memory index cannot be made there) is read from a
    temporary copy of the file and its log: opening it immutable would skip
    the runs only the log holds.
    """
    if not path.is_file():
        raise StoreError(f"no results database at {path}; name an existing file")
    with tempfile.TemporaryDirectory(prefix="pocketbench-merge-") as tmp:
        readable = path
        try:
            if not _openable(path):
                readable = _copy_with_log(path, Path(tmp))
            with contextlib.closing(
                sqlite3.connect(f"{readable.resolve().as_uri()}?mode=ro", uri=True)
            ) as c:
                app_id = c.execute("PRAGMA application_id").fetchone()[0]
                version = c.execute("PRAGMA user_version").fetchone()[0]
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot read {path} as a results database: {exc}") from None
        if app_id != APPLICATION_ID:
            raise StoreError(f"{path} is not a pocketbench results database; nothing was merged")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer pocketbench (schema {version}, this one reads up"
                f" to {SCHEMA_VERSION}); merge it with that version, or upgrade; nothing was merged"
            )
        if version < SCHEMA_VERSION:
            if readable == path:
                readable = _copy_with_log(path, Path(tmp))
            Store.open(readable).close()  # migrates the copy, never the user's file
        with contextlib.closing(
            sqlite3.connect(f"{readable.resolve().as_uri()}?mode=ro", uri=True)
        ) as c:
            yield c


def _columns(c: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in c.execute(f"PRAGMA table_info({table})") if row[1] != "id"]


_RUNS = (
    "SELECT j.config_key, r.warmup, r.idx, r.created_at, r.stdout,"
    " CASE WHEN j.import_id IS NULL THEN NULL ELSE coalesce(r.metrics, '') END, r.id"
    " FROM runs r JOIN jobs j ON r.job_id = j.id"
)


def _identities(c: sqlite3.Connection, campaign_id: int) -> dict[tuple[str, int], str]:
    """(config_key, measured run index) -> identity; warm-ups and imported runs under -1-id.

    Imported runs are numbered per file, so their index says nothing about
    whether two campaigns measured the same run.
    """
    out: dict[tuple[str, int], str] = {}
    for key, warmup, idx, created, stdout, imported, rid in c.execute(
        _RUNS + " WHERE j.campaign_id = ?", (campaign_id,)
    ):
        index = idx if not warmup and imported is None else -1 - rid
        out[(key, index)] = run_identity(key, warmup, idx, created, stdout, imported)
    return out


def _all_identities(c: sqlite3.Connection) -> set[str]:
    """Every run the store holds, whatever campaign it sits in."""
    return {run_identity(*tuple(row)[:6]) for row in c.execute(_RUNS)}


def _design(c: sqlite3.Connection, campaign_id: int) -> set[tuple[str, int, int]]:
    """What a campaign measures, whatever devices: configurations without their device."""
    return {
        (replica_key(k), runs, warm)
        for k, runs, warm in c.execute(
            "SELECT config_key, runs, warmup FROM jobs WHERE campaign_id = ?", (campaign_id,)
        )
    }


def _differs(src: sqlite3.Connection, sid: int, out: sqlite3.Connection, oid: int) -> str | None:
    """Why two same-named campaigns are not one (None: they are parts of one)."""
    mine, theirs = _design(out, oid), _design(src, sid)
    if not (mine <= theirs or theirs <= mine):
        only = sorted(k.split("|")[1] + " " + k.split("|")[2] for k, _, _ in theirs - mine)[:3]
        return f"it measures other configurations ({', '.join(only) or 'other settings'})"
    have = {k: v for k, v in _identities(out, oid).items() if k[1] >= 0}
    for k, ident in _identities(src, sid).items():
        if k[1] >= 0 and k in have and have[k] != ident:
            return f"run {k[1] + 1} of {k[0].split('|')[1]} was measured in both, differently"
    return None


def merge_into(target: Store, source: str | Path) -> MergeReport:
    """Copy every run of ``source`` that ``target`` does not hold yet (one transaction)."""
    source = Path(source)
    report = MergeReport(str(source))
    with _source(source) as src, target.transaction() as out:
        job_cols = [col for col in _columns(src, "jobs") if col != "campaign_id"]
        run_cols = [col for col in _columns(src, "runs") if col not in ("job_id", "slot")]
        present = _all_identities(out)
        for sid, name, created, command in src.execute(
            "SELECT id, name, created_at, command FROM campaigns ORDER BY created_at, id"
        ).fetchall():
            theirs = set(_identities(src, sid).values())
            row = out.execute("SELECT id FROM campaigns WHERE name = ?", (name,)).fetchone()
            target_name = name
            if row is not None:
                why = _differs(src, sid, out, row[0])
                if why is not None:
                    target_name = f"{name}@{source.stem}"
                    row = out.execute(
                        "SELECT id FROM campaigns WHERE name = ?", (target_name,)
                    ).fetchone()
                    if row is None and theirs and theirs <= present:
                        # A copy (under another file name) of a campaign merged before.
                        report.runs_present += len(theirs)
                        continue
                    report.conflicts.append(
                        f"campaign {name!r} in {source} differs from the one in {target.path}"
                        f" ({why}): merged as {target_name!r}, not joined"
                    )
            if row is None:
                cur = out.execute(
                    "INSERT INTO campaigns(name, created_at, command) VALUES (?, ?, ?)",
                    (target_name, created, command),
                )
                oid = cur.lastrowid
                report.campaigns_added.append(target_name)
            else:
                oid = row[0]
            assert oid is not None
            # The order and seed the campaign was measured with (schema 7).
            (design,) = src.execute("SELECT design FROM campaigns WHERE id = ?", (sid,)).fetchone()
            out.execute(
                "UPDATE campaigns SET design = ? WHERE id = ? AND design IS NULL", (design, oid)
            )
            jobs = src.execute(
                f"SELECT id, {', '.join(job_cols)} FROM jobs WHERE campaign_id = ? ORDER BY id",
                (sid,),
            ).fetchall()
            for job in jobs:
                values = dict(zip(job_cols, job[1:]))
                runs = src.execute(
                    f"SELECT {', '.join(run_cols)} FROM runs WHERE job_id = ? ORDER BY id",
                    (job[0],),
                ).fetchall()
                new = []
                for r in runs:
                    rv = dict(zip(run_cols, r))
                    imported = None
                    if values.get("import_id") is not None:
                        imported = rv["metrics"] or ""
                    ident = run_identity(
                        values["config_key"],
                        rv["warmup"],
                        rv["idx"],
                        rv["created_at"],
                        rv["stdout"],
                        imported,
                    )
                    if ident in present:
                        report.runs_present += 1
                    else:
                        new.append(rv)
                        present.add(ident)
                found = out.execute(
                    "SELECT id FROM jobs WHERE campaign_id = ? AND config_key = ? AND started_at = ?"
                    " AND device = ?",
                    (oid, values["config_key"], values["started_at"], values["device"]),
                ).fetchone()
                if found is None:
                    if values.get("import_id") is not None:
                        values["import_id"] = _copy_import(src, out, values["import_id"])
                    cols = ["campaign_id", *job_cols]
                    cur = out.execute(
                        f"INSERT INTO jobs({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        (oid, *(values[k] for k in job_cols)),
                    )
                    job_id = cur.lastrowid
                    report.jobs_added += 1
                    _copy_rows(src, out, "quality", job[0], job_id)
                    _copy_rows(src, out, "summaries", job[0], job_id)
                else:
                    job_id = found[0]
                    _catch_up(src, out, job[0], job_id, values)
                assert job_id is not None
                for rv in new:
                    rv["job_id"] = job_id
                    # Imported runs are numbered per file and hold no slot
                    # (as bench import stores them): several files of one
                    # configuration share indexes.
                    measured = not rv["warmup"] and values.get("import_id") is None
                    rv["slot"] = slot(oid, values["config_key"]) if measured else None
                    cols = list(rv)
                    out.execute(
                        f"INSERT INTO runs({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        tuple(rv.values()),
                    )
                    report.runs_added += 1
    return report


#: A job in these states may still end; one merged then is updated by a later merge.
UNFINISHED = ("running", "interrupted")


def _catch_up(
    src: sqlite3.Connection, out: sqlite3.Connection, old: int, new: int, values: dict
) -> None:
    """A job merged while it ran takes the end its source has now (status, quality, summaries)."""
    if values["status"] in UNFINISHED:
        return
    cur = out.execute(
        "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status IN (?, ?)",
        (values["status"], values["error"], values["finished_at"], new, *UNFINISHED),
    )
    if cur.rowcount:
        for table in ("quality", "summaries"):
            if out.execute(f"SELECT 1 FROM {table} WHERE job_id = ?", (new,)).fetchone() is None:
                _copy_rows(src, out, table, old, new)


def _copy_import(src: sqlite3.Connection, out: sqlite3.Connection, import_id: int) -> int | None:
    cols = _columns(src, "imports")
    row = src.execute(
        f"SELECT {', '.join(cols)} FROM imports WHERE id = ?", (import_id,)
    ).fetchone()
    if row is None:
        return None
    values = dict(zip(cols, row))
    have = out.execute("SELECT id FROM imports WHERE sha256 = ?", (values["sha256"],)).fetchone()
    if have:
        return int(have[0])
    cur = out.execute(
        f"INSERT INTO imports({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", row
    )
    return cur.lastrowid


def _copy_rows(
    src: sqlite3.Connection, out: sqlite3.Connection, table: str, old: int, new: int
) -> None:
    cols = [c for c in _columns(src, table) if c != "job_id"]
    for row in src.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE job_id = ?", (old,)):
        out.execute(
            f"INSERT INTO {table}(job_id, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
            (new, *row),
        )
