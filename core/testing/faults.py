"""What the fault-injection tests read back from a results file (plain SQL, no pocketbench code)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def measured(db: Path, campaign: str) -> list[tuple[int, int]]:
    """(index, ok) of every measured run stored for a campaign, in index order."""
    with sqlite3.connect(db) as c:
        return c.execute(
            "SELECT r.idx, r.ok FROM runs r JOIN jobs j ON r.job_id = j.id JOIN campaigns c"
            " ON j.campaign_id = c.id WHERE c.name = ? AND r.warmup = 0 ORDER BY r.idx",
            (campaign,),
        ).fetchall()


def job_rows(db: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT status, error FROM jobs ORDER BY id").fetchall()


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]
