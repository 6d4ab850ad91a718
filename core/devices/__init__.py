"""Devices a backend runs on: the local host and Android phones over adb."""

from __future__ import annotations

from pocketbench.core.devices.base import Device
from pocketbench.core.errors import UsageError


def open_device(spec: str) -> Device:
    """``local`` -> this host; ``adb``, ``adb:SERIAL``, ``adb://HOST:PORT/SERIAL`` -> a phone."""
    if spec == "local":
        from pocketbench.core.devices.local import LocalDevice

        return LocalDevice()
    if spec == "adb" or spec.startswith(("adb:", "adb://")):
        from pocketbench.core.devices.adb import open_adb  # type: ignore[attr-defined]

        return open_adb(spec)
    raise UsageError(
        f"Unknown device {spec!r}. Choose one of: local, adb, adb:SERIAL, adb://HOST:PORT/SERIAL."
    )
