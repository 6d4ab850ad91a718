"""A results file moved or deleted while ``bench`` writes it.

SQLite keeps writing the file it opened, whatever its name is now: after
``mv results.db elsewhere.db`` or ``rm results.db`` the runs would go into a
file nobody looks at, and ``bench`` would end with a summary as if all were
well.  So before each commit the store asks whether its path still names the
open file (:func:`check`).  When it does not, the command stops with the
store's exit code and says where the runs are: the moved file's new name (read
from the open descriptor), or, for a deleted file, a rescued copy beside the
old path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from pocketbench.core.api.errors import StoreError

FileId = tuple[int, int]


def file_id(path: Path) -> FileId | None:
    """(device, inode) of ``path``, or None when nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _open_descriptor(wanted: FileId) -> str | None:
    """The /proc path of this process's descriptor of the file ``wanted`` names."""
    fds = Path("/proc/self/fd")
    with contextlib.suppress(OSError):
        for entry in fds.iterdir():
            with contextlib.suppress(OSError):
                st = os.stat(entry)
                if (st.st_dev, st.st_ino) == wanted:
                    return str(entry)
    return None


def check(conn: sqlite3.Connection, path: Path, opened: FileId | None) -> bool:
    """True when ``path`` still names the open file; else raise :class:`StoreError`.

    Returns False (no error) when the file was moved: the caller commits the
    transaction into the moved file and then calls :func:`moved`.
    """
    if opened is None or file_id(path) == opened:
        return True
    fd = _open_descriptor(opened)
    where = os.readlink(fd) if fd else ""
    if where and not where.endswith(" (deleted)"):
        return False
    conn.execute("ROLLBACK")
    rescued = _rescue(conn, path, fd)
    if rescued is not None:
        raise StoreError(
            f"the results database {path} was deleted while bench was writing it; the runs it"
            f" held are saved in {rescued}; the run being stored was not (run again with --db"
            f" {rescued} to resume)"
        )
    raise StoreError(
        f"the results database {path} was deleted while bench was writing it; the runs"
        " measured into it are lost; nothing more was measured"
    )


def moved(conn: sqlite3.Connection, path: Path, opened: FileId) -> StoreError:
    """The error after committing into a moved file: it names the file's new path.

    The log is folded into the moved file first: its ``-wal`` stayed under the
    old name, where the moved file will never look for it (and truncated, it
    cannot be mistaken for the log of a new file made at the old path).
    """
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fd = _open_descriptor(opened)
    where = os.readlink(fd) if fd else "an unknown place"
    return StoreError(
        f"the results database {path} was moved to {where} while bench was writing it; every"
        f" run so far is stored there; stopped (run again with --db {where} to resume)"
    )


def _rescue(conn: sqlite3.Connection, path: Path, fd: str | None) -> Path | None:
    """Copy the deleted file's content (its log folded in) beside the old path."""
    if fd is None:
        return None
    target = path.with_name(path.name + ".rescued")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if target.exists():
            return None
        shutil.copyfile(fd, target)
    except (OSError, sqlite3.Error):
        return None
    return target
