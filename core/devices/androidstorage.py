"""A phone's free storage, from ``df`` on the folder pushed files go to.

toybox's ``df -k`` (Android 6 and later) prints 1 KiB blocks under an
``Available`` column; the old toolbox ``df`` (which takes no ``-k``) prints
sizes with a unit (``8.3G``) under ``Free``.  A long file-system name may
push the figures onto a line of their own.  Whatever else comes back is
refused with one line, never read as a number.
"""

from __future__ import annotations

import re
import shlex

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGT]?)B?\Z", re.IGNORECASE)
_FREE_COLUMNS = ("available", "avail", "free")


def df_script(folder: str) -> str:
    """``df`` of ``folder``: 1 KiB blocks where ``-k`` is known, else the old toolbox's sizes."""
    q = shlex.quote(folder)
    return f"df -k {q} 2>/dev/null || df {q}"


def parse_df(text: str) -> int:
    """Free bytes from :func:`df_script`'s output; ValueError saying what is wrong."""
    lines = [ln.split() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) < 2:
        raise ValueError(f"df printed no figures ({_quote(text)})")
    header = [h.lower() for h in lines[0]]
    column = next((header.index(c) for c in _FREE_COLUMNS if c in header), None)
    if column is None:
        raise ValueError(f"df printed no Available or Free column ({_quote(text)})")
    # The figures of the folder's file system: the last row (a long name wraps onto its own).
    row = lines[-1]
    if len(row) < len(header) - 1:  # "Mounted on" is two words of the header, one value
        row = lines[-2] + row if len(lines) > 2 else row
    if column >= len(row):
        raise ValueError(f"df's figures do not fill its columns ({_quote(text)})")
    kib_blocks = any(h in ("1k-blocks", "1024-blocks") for h in header)
    match = _SIZE.match(row[column])
    if match is None:
        raise ValueError(f"df's free figure {row[column]!r} is not a size")
    number, unit = match.groups()
    if not unit and not kib_blocks:
        raise ValueError(f"df's free figure {row[column]!r} has no unit and no block size")
    scale = _UNITS[unit.upper()] if unit else 2**10
    return int(float(number) * scale)


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:120] + ("..." if len(flat) > 120 else ""))
