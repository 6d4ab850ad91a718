"""Devices a backend runs on: the local host and Android phones over adb.

:func:`open_device` turns what the user typed after ``--device`` into a
:class:`~pocketbench.core.devices.base.Device`.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from pocketbench.core.api.errors import UsageError, unknown_choice
from pocketbench.core.devices.base import Device

__all__ = ["DEVICE_FORMS", "Device", "open_device", "parse_device"]

#: The forms ``--device`` accepts (listed when a value is not one of them).
DEVICE_FORMS = ("local", "adb", "adb:SERIAL", "adb://HOST:PORT/SERIAL")


def parse_device(spec: str) -> tuple[str, dict[str, object]]:
    """``("local", {})`` or ``("adb", {"serial": ..., "host": ..., "port": ...})``.

    ``adb`` is the only device attached; ``adb:SERIAL`` one device of the
    local adb server (a network device's serial is ``HOST:PORT``);
    ``adb://HOST[:PORT][/SERIAL]`` a device behind a remote adb server
    (port 5037 by default; no serial: the only device it has).
    """
    text = spec.strip()
    if text == "local":
        return "local", {}
    if text == "adb":
        return "adb", {"serial": None}
    if text.startswith("adb://"):
        try:
            url = urlsplit(text)
            host, port = url.hostname, url.port
        except ValueError as exc:
            raise UsageError(
                f"bad adb server address in {spec!r}: {exc}; use adb://HOST:PORT/SERIAL"
            ) from exc
        serial = unquote(url.path.lstrip("/")) or None
        if not host or url.query or url.fragment or (serial and "/" in serial):
            raise UsageError(f"bad device {spec!r}; use adb://HOST:PORT/SERIAL")
        return "adb", {"serial": serial, "host": host, "port": port or 5037, "url_name": True}
    if text.startswith("adb:") and len(text) > 4 and not text[4:].isspace():
        return "adb", {"serial": text[4:]}
    raise unknown_choice("device", spec, DEVICE_FORMS)


def open_device(spec: str, *, adb_port: int | None = None, adb_host: str | None = None) -> Device:
    """The device ``spec`` names (see :data:`DEVICE_FORMS`).

    ``adb_port``/``adb_host`` choose the adb server for ``adb`` and
    ``adb:SERIAL`` (default: $ANDROID_ADB_SERVER_HOST/PORT, else
    127.0.0.1:5037); an ``adb://`` address names its own server.

    :raises UsageError: for a value that is none of the forms.
    :raises DeviceError: when the device is missing, ambiguous, offline or unauthorized.
    """
    kind, options = parse_device(spec)
    if kind == "local":
        from pocketbench.core.devices.local import LocalDevice

        return LocalDevice()
    from pocketbench.core.devices.adb import AdbDevice

    if "host" not in options:
        options.update(host=adb_host, port=adb_port)
    return AdbDevice(**options)  # type: ignore[arg-type]
