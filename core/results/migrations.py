"""The results store's migration to schema 4: one measurement per configuration and device.

Schema 4 makes "what is stored is what was measured" a property of the file:
a measured run's index is unique within its configuration of a campaign (a
constraint, not a convention), a job records the process that measures it
(so a job whose process died reads as interrupted), and the tables for the
device lease and the configuration claim exist.
"""

from __future__ import annotations

import sqlite3

#: Tables and indices new in schema 4.
SCHEMA_4 = """
CREATE UNIQUE INDEX IF NOT EXISTS runs_unique_index ON runs(slot, idx);
CREATE TABLE IF NOT EXISTS leases (
    device TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    campaign TEXT NOT NULL,
    config_key TEXT NOT NULL,
    holder TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (campaign, config_key)
);
"""


def slot(campaign_id: int, config_key: str) -> str:
    """What makes a measured run's index unique: its campaign and configuration."""
    return f"{campaign_id}:{config_key}"


def to_claims(c: sqlite3.Connection) -> None:
    """Add the run slots, job holders, leases and claims (inside the caller's transaction)."""
    c.execute("ALTER TABLE jobs ADD COLUMN holder TEXT")
    c.execute("ALTER TABLE jobs ADD COLUMN heartbeat REAL")
    c.execute("ALTER TABLE runs ADD COLUMN slot TEXT")
    # A file written before the constraint may already hold a run index twice
    # (two processes on one configuration).  Both runs stay (they were
    # measured); the first of each index takes the slot, the others none.
    c.execute(
        "UPDATE runs SET slot = (SELECT j.campaign_id || ':' || j.config_key FROM jobs j"
        " WHERE j.id = runs.job_id)"
        " WHERE warmup = 0 AND id IN (SELECT MIN(r.id) FROM runs r JOIN jobs j ON r.job_id = j.id"
        " WHERE r.warmup = 0 GROUP BY j.campaign_id, j.config_key, r.idx)"
    )
    # Jobs of schema 1 recorded no process: one still "running" was left so.
    c.execute(
        "UPDATE jobs SET status = 'interrupted',"
        " error = COALESCE(error, 'its process ended without finishing (recorded before schema 4)')"
        " WHERE status = 'running'"
    )
    for statement in SCHEMA_4.split(";"):
        if statement.strip():
            c.execute(statement)
