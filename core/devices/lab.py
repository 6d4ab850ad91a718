"""A device lab: several adb servers, each with phones, addressed by host or by pool.

adb is already the distributed engine of every lab: each host runs an adb
server and clients reach it over TCP.  This module only asks those servers
what they have, through adb's own client-server protocol:

- ``adb://HOST:PORT`` names every phone on that server;
- ``pool:MODEL`` every attached phone whose ``ro.product.model`` is MODEL on
  the lab's servers (a study's ``[lab] servers``, else the local server);
- ``pool:MODEL@HOST:PORT,HOST:PORT`` the same on the servers named.

Each phone is named ``adb://HOST:PORT/SERIAL``, so results say which unit
measured them.  A phone listed by two servers is refused: two workers would
then measure on one phone at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from attrs import frozen

from pocketbench.core.api.errors import DeviceError, UsageError

#: Forms a lab device takes (beside those of :data:`pocketbench.core.devices.DEVICE_FORMS`).
LAB_FORMS = ("adb://HOST:PORT", "pool:MODEL", "pool:MODEL@HOST:PORT,...")
#: How a pool spreads a study: one phone per configuration, or every phone.
SPREADS = ("shard", "replicate")

_SERVER = re.compile(
    r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$"
)


@frozen
class Server:
    """One adb server of the lab."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@frozen
class LabPhone:
    """A phone a lab server lists: its server, serial, adb state and model."""

    server: Server
    serial: str
    state: str
    model: str

    @property
    def name(self) -> str:
        return f"adb://{self.server}/{self.serial}"


@frozen
class HostSpec:
    """``adb://HOST:PORT``: every usable phone on one server."""

    server: Server


@frozen
class PoolSpec:
    """``pool:MODEL[@servers]``: every usable phone of one model."""

    model: str
    servers: tuple[Server, ...] = ()

    @property
    def name(self) -> str:
        # The pool's name leaves out where its phones are: a study resumed
        # with the phones moved to another host keeps its configurations.
        return f"pool:{self.model}"


def parse_server(text: str, where: str = "server") -> Server:
    """``HOST:PORT`` (``[v6]:PORT``) -> :class:`Server`; one line when malformed."""
    m = _SERVER.match(text.strip())
    port = int(m["port"]) if m else 0
    if not m or not 0 < port < 65536:
        raise UsageError(f"{where}: {text!r} is not an adb server address; write HOST:PORT")
    return Server(m["v6"] or m["host"], port)


def parse_lab_spec(spec: str) -> HostSpec | PoolSpec | None:
    """A lab form of ``--device`` (see :data:`LAB_FORMS`), or None for any other form."""
    text = spec.strip()
    if text.startswith("pool:"):
        model, _, servers = text[5:].partition("@")
        if not model.strip():
            raise UsageError(f"bad device {spec!r}: name the phone model, e.g. pool:SM-A256E")
        found = tuple(
            parse_server(s, f"device {spec!r}") for s in servers.split(",") if servers and s
        )
        if servers and not found:
            raise UsageError(f"bad device {spec!r}: list servers as HOST:PORT,HOST:PORT")
        return PoolSpec(model.strip(), found)
    if text.startswith("adb://"):
        rest = text[6:]
        if rest.endswith("/"):
            rest = rest[:-1]
        if "/" in rest:
            return None  # adb://HOST:PORT/SERIAL: one phone, the ordinary device form
        return HostSpec(parse_server(rest, f"device {spec!r}"))
    return None


def list_server(server: Server, timeout: float = 5.0) -> list[LabPhone]:
    """Every device ``server`` lists, with its model; one line naming what was tried when it is down."""
    import socket

    from adbutils.errors import AdbError

    from pocketbench.core.devices.adbserver import Client

    try:
        with socket.create_connection((server.host, server.port), timeout=timeout):
            pass
    except OSError as exc:
        raise DeviceError(
            f"the adb server {server} is unreachable (tried a TCP connection to {server}"
            f" for {timeout:g} s: {exc.strerror or exc}); start it on that host with"
            f" `adb -a -P {server.port} nodaemon server` or fix the address"
        ) from None
    client = Client(host=server.host, port=server.port)
    try:
        listed = [(d.serial, d.state) for d in client.list()]
        phones = []
        for serial, state in listed:
            model = ""
            if state == "device":
                model = client.device(serial).prop.model or ""
            phones.append(LabPhone(server, serial, state, model.strip()))
    except (AdbError, OSError) as exc:
        raise DeviceError(
            f"the adb server {server} stopped answering while listing its phones ({exc});"
            " check it and retry"
        ) from None
    return phones


def list_lab(servers: Sequence[Server]) -> list[LabPhone]:
    """Every phone on every server; a serial two servers expose is refused in one line."""
    phones = [p for s in dict.fromkeys(servers) for p in list_server(s)]
    seen: dict[str, LabPhone] = {}
    for p in phones:
        other = seen.get(p.serial)
        if other is not None and other.server != p.server:
            raise DeviceError(
                f"two adb servers expose the serial {p.serial!r} ({other.server} and {p.server}):"
                " a phone must be attached to one server only; `adb -P PORT disconnect"
                f" {p.serial}` (or unplug it) on one of them"
            )
        seen[p.serial] = p
    return phones


def resolve(spec: HostSpec | PoolSpec, lab: Sequence[Server]) -> list[LabPhone]:
    """The usable phones ``spec`` names, at least one (else one line listing what is attached)."""
    if isinstance(spec, HostSpec):
        phones = list_lab([spec.server])
        ready = [p for p in phones if p.state == "device"]
        if not ready:
            states = ", ".join(f"{p.serial} ({p.state})" for p in phones) or "none attached"
            raise DeviceError(f"no usable phone on the adb server {spec.server}: {states}")
        return ready
    servers = spec.servers or tuple(lab) or (_default_server(),)
    phones = list_lab(servers)
    ready = [p for p in phones if p.state == "device" and p.model == spec.model]
    if not ready:
        raise DeviceError(
            f"pool:{spec.model} matches no phone on {', '.join(map(str, servers))};"
            f" attached models: {attached_models(phones)}"
        )
    return ready


def attached_models(phones: Iterable[LabPhone]) -> str:
    """``Galaxy A25 (2), Pixel 8 (1)``; ``none`` when nothing usable is attached."""
    counts: dict[str, int] = {}
    for p in phones:
        if p.state == "device":
            counts[p.model or "(unknown model)"] = counts.get(p.model or "(unknown model)", 0) + 1
    return ", ".join(f"{m} ({n})" for m, n in sorted(counts.items())) or "none"


def _default_server() -> Server:
    from pocketbench.core.devices.adbserver import server_address

    return Server(*server_address())
