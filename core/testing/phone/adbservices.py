"""The services of the test daemon: ``shell:``, ``shell,v2[,raw|,pty]:`` and ``sync:``.

Commands run on this host with ``/bin/sh -c`` in a sandbox that stands in
for ``/data/local/tmp``: device paths in a command are mapped into the
sandbox, and sync never writes outside it.  Like adbd, a shell child starts
in a session of its own and gets SIGHUP (only it, not its group) when the
stream closes under it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import pty
import signal
import stat
import struct
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from pocketbench.testing.phone.adbwire import LinkClosed, Stream, StreamReader

DEVICE_TMP = "/data/local/tmp"
SYNC_DATA_MAX = 64 * 1024


class Host(Protocol):
    """What the services need from the daemon."""

    sandbox: Path
    #: Device path prefix -> host directory, applied to command text.
    path_map: Mapping[str, Path]
    env: Mapping[str, str]
    free_bytes: int | None
    #: Pushed files never get the executable bit (a noexec or SELinux-refusing phone).
    exec_refused: bool

    def on_command(self, command: str) -> None: ...
    def register(self, proc: subprocess.Popen) -> None: ...
    def received(self, n: int) -> None: ...


def device_to_host(host: Host, path: str) -> Path | None:
    """The sandbox file for a device path, or None when it lies outside /data/local/tmp."""
    norm = posixpath.normpath(path) if path.startswith("/") else ""
    if norm != DEVICE_TMP and not norm.startswith(DEVICE_TMP + "/"):
        return None
    local = host.sandbox / norm[len(DEVICE_TMP) :].lstrip("/")
    real_root = os.path.realpath(host.sandbox)
    real = os.path.realpath(local)
    return local if real == real_root or real.startswith(real_root + os.sep) else None


def map_command(host: Host, command: str) -> str:
    for device_prefix, local in host.path_map.items():
        command = command.replace(device_prefix, str(local))
    return command


def shell_service(host: Host, command: str, *, v2: bool, use_pty: bool) -> Callable[[Stream], None]:
    def serve(stream: Stream) -> None:
        host.on_command(command)
        argv = ["/bin/sh", "-c", map_command(host, command)] if command else ["/bin/sh"]
        env = dict(host.env)
        if use_pty:
            _serve_pty(host, stream, argv, env, v2)
        else:
            _serve_pipes(host, stream, argv, env, v2)

    return serve


def _packet(kind: int, data: bytes) -> bytes:
    return struct.pack("<BI", kind, len(data)) + data


def _exit_code(proc: subprocess.Popen) -> int:
    rc = proc.wait()
    return (0x80 | -rc) if rc < 0 else rc & 0xFF


def _hangup(proc: subprocess.Popen) -> None:
    # adbd signals its direct child only; a backgrounded grandchild lives on.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGHUP)


def _serve_pipes(host: Host, stream: Stream, argv: list[str], env: dict, v2: bool) -> None:
    proc = subprocess.Popen(
        argv,
        cwd=host.sandbox,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if v2 else subprocess.STDOUT,
        start_new_session=True,
    )
    host.register(proc)

    def pump(pipe, kind: int) -> None:
        with pipe:  # closed when the stream dies, so a surviving child cannot block on it
            while chunk := os.read(pipe.fileno(), SYNC_DATA_MAX):
                try:
                    stream.send(_packet(kind, chunk) if v2 else chunk)
                except LinkClosed:
                    break

    pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True)]
    if v2:
        pumps.append(threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True))
    for t in pumps:
        t.start()
    threading.Thread(target=_feed_stdin, args=(stream, proc, v2), daemon=True).start()
    for t in pumps:
        t.join()
    code = _exit_code(proc)
    if v2 and not stream.closed:
        stream.send(_packet(3, bytes([code])))


def _feed_stdin(stream: Stream, proc: subprocess.Popen, v2: bool) -> None:
    reader = StreamReader(stream)
    while True:
        if v2:
            header = reader.read_exact(5)
            kind, length = struct.unpack("<BI", header) if header else (None, 0)
            data = reader.read_exact(length) if header else None
        else:
            kind, data = 0, stream.recv()
        if data is None:
            _hangup(proc)
            return
        try:
            if kind == 0:
                proc.stdin.write(data)
                proc.stdin.flush()
            elif kind == 4:
                proc.stdin.close()
        except (OSError, ValueError):
            pass


def _serve_pty(host: Host, stream: Stream, argv: list[str], env: dict, v2: bool) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv,
        cwd=host.sandbox,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    host.register(proc)
    os.close(slave)

    def feed() -> None:
        while (data := stream.recv()) is not None:
            os.write(master, data[5:] if v2 else data)
        _hangup(proc)

    threading.Thread(target=feed, daemon=True).start()
    try:
        while True:
            try:
                chunk = os.read(master, SYNC_DATA_MAX)
            except OSError:  # EIO: the terminal's last user is gone
                break
            if not chunk:
                break
            stream.send(_packet(1, chunk) if v2 else chunk)
        code = _exit_code(proc)
        if v2 and not stream.closed:
            stream.send(_packet(3, bytes([code])))
    finally:
        os.close(master)


# -- sync ---------------------------------------------------------------------


def sync_service(host: Host) -> Callable[[Stream], None]:
    def serve(stream: Stream) -> None:
        reader = StreamReader(stream)
        while (request := reader.read_exact(8)) is not None:
            ident, length = request[:4], struct.unpack("<I", request[4:])[0]
            if length > 1024:
                return _fail(stream, "path too long")
            raw = reader.read_exact(length)
            if raw is None:
                return
            path = raw.decode("utf-8", errors="surrogateescape")
            if ident == b"STAT":
                st = _stat(host, path)
                stream.send(
                    b"STAT"
                    + struct.pack(
                        "<III", *((st.st_mode, st.st_size, int(st.st_mtime)) if st else (0, 0, 0))
                    )
                )
            elif ident in (b"STA2", b"LST2"):
                stream.send(_stat_v2(ident, _stat(host, path)))
            elif ident == b"LIST":
                _list(host, stream, path)
            elif ident == b"SEND":
                if not _send(host, stream, reader, path):
                    return
            elif ident == b"RECV":
                if not _recv(host, stream, path):
                    return
            else:  # QUIT, or a request this daemon does not know
                if ident != b"QUIT":
                    _fail(stream, f"unknown command {ident!r}")
                return

    return serve


def _fail(stream: Stream, reason: str) -> None:
    data = reason.encode()
    stream.send(b"FAIL" + struct.pack("<I", len(data)) + data)


def _stat(host: Host, path: str) -> os.stat_result | None:
    local = device_to_host(host, path)
    try:
        return os.lstat(local) if local is not None else None
    except OSError:
        return None


def _stat_v2(ident: bytes, st: os.stat_result | None) -> bytes:
    if st is None:
        return ident + struct.pack("<IQQIIIIQqqq", errno.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return ident + struct.pack(
        "<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
        st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime),
    )  # fmt: skip


def _list(host: Host, stream: Stream, path: str) -> None:
    local = device_to_host(host, path)
    names = sorted(os.listdir(local)) if local is not None and local.is_dir() else []
    for name in [".", "..", *names]:
        try:
            st = os.lstat(local / name)  # type: ignore[operator]
        except OSError:
            continue
        encoded = name.encode("utf-8", errors="surrogateescape")
        stream.send(
            b"DENT"
            + struct.pack("<IIII", st.st_mode, st.st_size, int(st.st_mtime), len(encoded))
            + encoded
        )
    stream.send(b"DONE" + bytes(16))


def _send(host: Host, stream: Stream, reader: StreamReader, spec: str) -> bool:
    path, _, mode_text = spec.rpartition(",")
    mode = int(mode_text, 8 if mode_text.startswith("0") else 10) if mode_text.isdigit() else 0o644
    local = device_to_host(host, path)
    error = None if local is not None else f"couldn't create file: {os.strerror(errno.EACCES)}"
    out = None
    if local is not None:
        try:
            local.parent.mkdir(parents=True, exist_ok=True)  # the fixed_push_mkdir feature
            if local.is_file() or local.is_symlink():
                local.unlink()
            out = open(local, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            error = f"couldn't create file: {exc.strerror}"
    written = 0
    timestamp = None
    try:
        while True:
            header = reader.read_exact(8)
            if header is None:
                return False
            ident, size = header[:4], struct.unpack("<I", header[4:])[0]
            if ident == b"DONE":
                timestamp = size
                break
            data = reader.read_exact(size) if ident == b"DATA" else None
            if data is None:
                return False
            host.received(len(data))
            if (
                error is None
                and host.free_bytes is not None
                and written + len(data) > host.free_bytes
            ):
                error = f"write failed: {os.strerror(errno.ENOSPC)}"
                _fail(stream, error)  # at once, like adbd; then drain until DONE
            if error is None:
                out.write(data)  # type: ignore[union-attr]
                written += len(data)
    finally:
        if out is not None:
            out.close()
            if error is not None or timestamp is None:
                local.unlink(missing_ok=True)  # type: ignore[union-attr]
    if error is not None:
        if out is None:
            _fail(stream, error)
        return False
    mode = stat.S_IMODE(mode) | 0o600
    os.chmod(local, mode & ~0o111 if host.exec_refused else mode)  # type: ignore[arg-type]
    os.utime(local, (timestamp, timestamp))  # type: ignore[arg-type]
    stream.send(b"OKAY" + bytes(4))
    return True


def _recv(host: Host, stream: Stream, path: str) -> bool:
    local = device_to_host(host, path)
    try:
        f = open(local, "rb") if local is not None else None  # noqa: SIM115
    except OSError as exc:
        f, reason = None, exc.strerror
    else:
        reason = os.strerror(errno.ENOENT)
    if f is None:
        _fail(stream, f"open failed: {reason}")
        return False
    with f:
        while chunk := f.read(SYNC_DATA_MAX):
            stream.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
    stream.send(b"DONE" + bytes(4))
    return True
