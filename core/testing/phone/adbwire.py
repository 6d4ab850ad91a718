"""The adb transport protocol as a device speaks it, for the test daemon.

Messages are a 24-byte little-endian header (command, arg0, arg1, payload
length, payload checksum, command ^ 0xffffffff) and a payload.  A
:class:`Link` is one transport connection from an adb server; it carries
many :class:`Stream` s (one per OPEN), each with adb's flow control: one
unacknowledged WRTE at a time in each direction.  Written from the protocol
description (AOSP ``adb/protocol.txt``), for tests only.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import struct
import threading
from collections.abc import Callable

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

#: The version that lets both sides skip payload checksums.
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024
AUTH_TOKEN = 1

_HEADER = struct.Struct("<6I")


class LinkClosed(Exception):
    """The transport or the stream is gone."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise LinkClosed("peer closed the transport")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> tuple[int, int, int, bytes]:
    command, arg0, arg1, length, _check, magic = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if magic != command ^ 0xFFFFFFFF:
        raise LinkClosed(f"bad magic in header {command:#x}")
    return command, arg0, arg1, _recv_exact(sock, length) if length else b""


class Stream:
    """One OPENed service: ``send`` blocks until the previous WRTE is acknowledged."""

    def __init__(self, link: Link, local_id: int, remote_id: int) -> None:
        self.link = link
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = False
        # The OPEN implies the peer is ready, so the first WRTE may go at once.
        self._acked = threading.Event()
        self._acked.set()
        self._inbox: queue.Queue[bytes | None] = queue.Queue()
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            step = self.link.max_payload
            for start in range(0, len(data), step):
                while not self._acked.wait(0.2):
                    if self.closed:
                        break
                if self.closed:
                    raise LinkClosed("stream closed")
                self._acked.clear()
                self.link.write(A_WRTE, self.local_id, self.remote_id, data[start : start + step])

    def recv(self) -> bytes | None:
        """The next payload from the peer, or None once the peer closed the stream."""
        data = self._inbox.get()
        if data is None:
            self._inbox.put(None)
            return None
        # Acknowledge only when consumed: that is the back-pressure of a push.
        self.link.write(A_OKAY, self.local_id, self.remote_id)
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._acked.set()
            self.link.write(A_CLSE, self.local_id, self.remote_id, ignore_errors=True)
            self.link.forget(self)

    # Called by the link's reader thread.
    def _on_okay(self) -> None:
        self._acked.set()

    def _on_data(self, data: bytes) -> None:
        self._inbox.put(data)

    def _on_close(self) -> None:
        self.closed = True
        self._acked.set()
        self._inbox.put(None)


class StreamReader:
    """Exact reads over a stream's payloads (for byte-oriented services)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self._buf = bytearray()

    def read_exact(self, n: int) -> bytes | None:
        while len(self._buf) < n:
            data = self.stream.recv()
            if data is None:
                return None
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


#: Maps a service name to the function that serves it on a stream (None: unknown service).
ServiceFactory = Callable[[str], "Callable[[Stream], None] | None"]


class Link:
    """One transport connection from an adb server to this device."""

    def __init__(
        self, sock: socket.socket, banner: bytes, services: ServiceFactory, mode: str
    ) -> None:
        self.sock = sock
        self.banner = banner
        self.services = services
        self.mode = mode
        self.max_payload = 4096
        self._checksums = True
        self._streams: dict[int, Stream] = {}
        self._next_id = 1
        self._wlock = threading.Lock()
        self._slock = threading.Lock()

    def write(
        self, cmd: int, arg0: int, arg1: int, data: bytes = b"", *, ignore_errors: bool = False
    ) -> None:
        check = sum(data) & 0xFFFFFFFF if self._checksums else 0
        header = _HEADER.pack(cmd, arg0, arg1, len(data), check, cmd ^ 0xFFFFFFFF)
        try:
            with self._wlock:
                self.sock.sendall(header + data)
        except OSError as exc:
            if not ignore_errors:
                raise LinkClosed(str(exc)) from exc

    def forget(self, stream: Stream) -> None:
        with self._slock:
            self._streams.pop(stream.local_id, None)

    def serve(self) -> None:
        """Handshake, then dispatch messages until the transport closes."""
        try:
            if self._handshake():
                while True:
                    self._dispatch(*read_message(self.sock))
        except (LinkClosed, OSError):
            pass
        finally:
            with self._slock:
                streams, self._streams = list(self._streams.values()), {}
            for stream in streams:
                stream._on_close()
            with contextlib.suppress(OSError):
                self.sock.close()

    def _handshake(self) -> bool:
        while True:
            cmd, arg0, arg1, _data = read_message(self.sock)
            if self.mode == "silent":
                continue  # a device that never answers: the server calls it offline
            if cmd == A_CNXN or (cmd == A_AUTH and self.mode == "unauthorized"):
                if cmd == A_CNXN:
                    self._checksums = arg0 < VERSION_SKIP_CHECKSUM
                    self.max_payload = min(arg1, MAX_PAYLOAD)
                if self.mode == "unauthorized":
                    # Nobody ever accepts the key on this "phone".
                    if cmd == A_CNXN or arg0 != 3:
                        self.write(A_AUTH, AUTH_TOKEN, 0, os.urandom(20))
                    continue
                self.write(A_CNXN, VERSION_SKIP_CHECKSUM, MAX_PAYLOAD, self.banner)
                return True

    def _dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == A_OPEN:
            name = data.rstrip(b"\0").decode("utf-8", errors="surrogateescape")
            handler = self.services(name)
            if handler is None:
                self.write(A_CLSE, 0, arg0)  # a refused OPEN
                return
            with self._slock:
                local_id = self._next_id
                self._next_id += 1
                stream = self._streams[local_id] = Stream(self, local_id, arg0)
            self.write(A_OKAY, local_id, arg0)
            threading.Thread(target=_run_service, args=(handler, stream), daemon=True).start()
            return
        with self._slock:
            stream = self._streams.get(arg1)
        if cmd == A_CNXN:
            self.write(A_CNXN, VERSION_SKIP_CHECKSUM, MAX_PAYLOAD, self.banner)
        elif stream is None:
            return  # a message for a stream already closed: ignored, as the protocol says
        elif cmd == A_OKAY:
            stream._on_okay()
        elif cmd == A_WRTE:
            stream._on_data(data)
        elif cmd == A_CLSE:
            self.forget(stream)
            stream._on_close()


def _run_service(handler: Callable[[Stream], None], stream: Stream) -> None:
    try:
        handler(stream)
    except LinkClosed:
        pass
    finally:
        stream.close()
