"""What the fault-injection tests read back from a results file (plain SQL, no pocketbench code),
and the small or read-only file systems they write to."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


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


@contextlib.contextmanager
def small_fs(target: Path, size: str = "256k") -> Iterator[Path]:
    """A small tmpfs mounted at ``target`` (skips the test where mounting is not allowed)."""
    target.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                       check=True, capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False, capture_output=True)


def fill(fs: Path, leave: int) -> None:
    """Fill ``fs`` until fewer than ``leave`` bytes are free."""
    with open(fs / "filler", "wb") as f:
        while os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize >= leave:
            try:
                f.write(b"\0" * 4096)
                f.flush()
            except OSError:
                break


@contextlib.contextmanager
def read_only_view(source: Path, target: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``target`` through a bind mount (root can write files
    whatever their modes)."""
    target.mkdir()
    try:
        subprocess.run(
            ["mount", "--bind", str(source), str(target)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("cannot mount here (needs root in a mount namespace)")
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True
        )
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False, capture_output=True)
