"""adb's file sync protocol (client side) and what pocketbench remembers about pushed files.

A sync stream (``sync:``) carries requests of a 4-byte id, a 4-byte
little-endian length and a path.  ``STAT`` answers mode, size and mtime;
``SEND path,mode`` is followed by ``DATA`` blocks of at most 64 KiB and
``DONE mtime``, and answered ``OKAY`` or ``FAIL message``.  adbd answers a
failing SEND (no space, no permission) as soon as it fails, so the sender
watches for an early answer instead of streaming the whole file first.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import select
import stat as stat_mod
import struct
from pathlib import Path
from typing import BinaryIO

import adbutils

from pocketbench.core.devices.base import ProgressFn
from pocketbench.core.kit import cache

CHUNK = 64 * 1024  # the protocol's largest DATA block


class SyncFailed(Exception):
    """The device refused a SEND; the message is adbd's."""


class UnexpectedReply(Exception):
    """The device answered something the protocol does not allow."""


def stat(conn: adbutils.AdbConnection, path: str) -> tuple[int, int, int] | None:
    """``(mode, size, mtime)`` of a device file, or None when it does not exist."""
    data = path.encode()
    conn.conn.sendall(b"STAT" + struct.pack("<I", len(data)) + data)
    reply = conn.read_exact(16)
    if reply[:4] != b"STAT":
        raise UnexpectedReply(f"STAT answered {reply[:4]!r}")
    mode, size, mtime = struct.unpack("<III", reply[4:])
    return None if mode == size == mtime == 0 else (mode, size, mtime)


def send(
    conn: adbutils.AdbConnection,
    source: BinaryIO,
    path: str,
    *,
    size: int,
    mtime: int,
    mode: int,
    progress: ProgressFn | None = None,
) -> None:
    """Write ``source`` to ``path`` on the device, which stamps it with ``mtime``.

    :raises SyncFailed: with adbd's reason when the device refuses the file.
    """
    sock = conn.conn
    spec = f"{path},{stat_mod.S_IFREG | mode}".encode()
    sock.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
    done = 0
    if progress:
        progress(0, size)
    refused = False
    while chunk := source.read(CHUNK):
        sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        done += len(chunk)
        if progress:
            progress(done, size)
        if select.select([sock], [], [], 0)[0]:
            refused = True  # an answer before DONE can only be a refusal (or a drop)
            break
    if not refused:
        sock.sendall(b"DONE" + struct.pack("<I", mtime))
    reply = conn.read_exact(8)
    if reply[:4] == b"OKAY":
        return
    if reply[:4] != b"FAIL":
        raise UnexpectedReply(f"SEND answered {reply[:4]!r}")
    length = struct.unpack("<I", reply[4:])[0]
    raise SyncFailed(conn.read_exact(length).decode("utf-8", errors="replace"))


class DigestMemo:
    """Digests of files on devices, keyed by (device id, path, size, mtime).

    Kept in memory and in the user's cache, so a second ``bench`` process
    does not hash a large model on the phone again.  A file changed on the
    device gets a new mtime and therefore a new key.
    """

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}

    @staticmethod
    def key(device_id: str, path: str, size: int, mtime: int) -> str:
        return f"{device_id}|{path}|{size}|{mtime}"

    def get(self, key: str) -> tuple[str, str] | None:
        if key in self._known:
            return self._known[key]
        try:
            algo, hexdigest = _memo_path(key).read_text().split()
        except (OSError, ValueError):
            return None
        if _HEX.get(algo) is None or not _HEX[algo].fullmatch(hexdigest):
            return None  # damaged (a full disk): recomputed and rewritten, never trusted
        self._known[key] = (algo, hexdigest)
        return algo, hexdigest

    def put(self, key: str, digest: tuple[str, str]) -> None:
        self._known[key] = digest
        with contextlib.suppress(OSError):
            cache.write_atomic(_memo_path(key), f"{digest[0]} {digest[1]}\n".encode())


def local_digest(path: Path, algo: str) -> str:
    """sha256 (memoised by the cache) or md5 of a local file."""
    if algo == "sha256":
        return cache.file_digest(path)
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}


def _memo_path(key: str) -> Path:
    return cache.cache_dir("adb-digests") / hashlib.sha256(key.encode()).hexdigest()
