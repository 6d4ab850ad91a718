"""Leases and claims in the store: who measures which device and which configuration.

A device *lease* (one row per device) and a configuration *claim* (one row
per campaign and configuration) are taken inside one ``BEGIN IMMEDIATE``
transaction each, so of two processes exactly one wins.  Every process
sharing the store sees the holder (host, pid, command, since); a holder that
died (its exact process is gone on this host, or its heartbeat stopped on
another) is taken over.  Jobs record their holder too, so a job left
"running" by a dead process reads as interrupted.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from pocketbench.core.kit.identity import Holder
from pocketbench.core.results.store import Store, holder_from, holder_json


def _take(
    store: Store, table: str, where: str, key: tuple[Any, ...], holder: Holder
) -> tuple[Holder | None, Holder | None]:
    """(the live holder that keeps it from us, the dead holder we took it from)."""
    cols = where.replace(" = ?", "").replace(" AND ", ", ")
    with store.transaction(f"taking the {table[:-1]}") as c:
        row = c.execute(f"SELECT holder, heartbeat FROM {table} WHERE {where}", key).fetchone()
        current = holder_from(row["holder"], row["heartbeat"]) if row else None
        if current is not None and current.alive() and not _same(current, holder):
            return current, None
        c.execute(
            f"INSERT OR REPLACE INTO {table}({cols}, holder, heartbeat)"
            f" VALUES ({', '.join('?' * (len(key) + 2))})",
            (*key, holder_json(holder), time.time()),
        )
    dead = current if current is not None and not _same(current, holder) else None
    return None, dead


def _same(a: Holder, b: Holder) -> bool:
    return (a.host, a.pid, a.start) == (b.host, b.pid, b.start)


def _drop(store: Store, table: str, where: str, key: tuple[Any, ...], holder: Holder) -> None:
    with store.transaction(f"releasing the {table[:-1]}") as c:
        row = c.execute(f"SELECT holder FROM {table} WHERE {where}", key).fetchone()
        if row and _same(holder_from(row["holder"], 0) or holder, holder):
            c.execute(f"DELETE FROM {table} WHERE {where}", key)


def take_lease(store: Store, device: str, holder: Holder) -> tuple[Holder | None, Holder | None]:
    return _take(store, "leases", "device = ?", (device,), holder)


def drop_lease(store: Store, device: str, holder: Holder) -> None:
    _drop(store, "leases", "device = ?", (device,), holder)


def take_claim(
    store: Store, campaign: str, config_key: str, holder: Holder
) -> tuple[Holder | None, Holder | None]:
    return _take(store, "claims", "campaign = ? AND config_key = ?", (campaign, config_key), holder)


def drop_claim(store: Store, campaign: str, config_key: str, holder: Holder) -> None:
    _drop(store, "claims", "campaign = ? AND config_key = ?", (campaign, config_key), holder)


def settle_dead_jobs(store: Store, campaign: str, config_key: str) -> list[Holder]:
    """Mark this configuration's jobs left "running" by a dead process as interrupted."""
    dead: list[Holder] = []
    with store.transaction("marking jobs of dead processes") as c:
        rows = c.execute(
            "SELECT j.id, j.holder, j.heartbeat FROM jobs j JOIN campaigns c"
            " ON j.campaign_id = c.id WHERE c.name = ? AND j.config_key = ?"
            " AND j.status = 'running'",
            (campaign, config_key),
        ).fetchall()
        for row in rows:
            holder = holder_from(row["holder"], row["heartbeat"])
            if holder is not None and holder.alive():
                continue
            who = holder.describe() if holder else "an unknown process"
            c.execute(
                "UPDATE jobs SET status = 'interrupted', error = ? WHERE id = ?",
                (f"its process ({who}) ended without finishing (kill -9 or power cut)", row["id"]),
            )
            if holder is not None:
                dead.append(holder)
    return dead


def job_states(store: Store, campaign: str | None = None) -> dict[str, dict[str, int]]:
    """Per campaign, how many jobs are done, failed, interrupted or still running.

    A job recorded as running whose process is gone counts as interrupted.
    """
    where, params = ("WHERE c.name = ?", (campaign,)) if campaign else ("", ())
    out: dict[str, dict[str, int]] = {}
    for row in store.query(
        "SELECT c.name, j.status, j.holder, j.heartbeat FROM jobs j JOIN campaigns c"
        f" ON j.campaign_id = c.id {where}",
        params,
    ):
        name, status = row["name"], row["status"]
        if status == "running":
            holder = holder_from(row["holder"], row["heartbeat"])
            status = "running" if holder is not None and holder.alive() else "interrupted"
        counts = out.setdefault(name, {})
        counts[status] = counts.get(status, 0) + 1
    return out


def beat(path: str, holder: Holder) -> None:
    """Renew every heartbeat of ``holder`` (its own connection: called from a thread)."""
    text = holder_json(holder)
    now = time.time()
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for table in ("leases", "claims"):
            conn.execute(f"UPDATE {table} SET heartbeat = ? WHERE holder = ?", (now, text))
        conn.execute(
            "UPDATE jobs SET heartbeat = ? WHERE holder = ? AND status = 'running'", (now, text)
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
