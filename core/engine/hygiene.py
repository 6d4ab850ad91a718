"""Device hygiene against throttling, as a wrapper of ``pocketbench_execute``.

Before every execution the device cools down: ``auto`` waits until its
hottest sensor is back within ``delta`` degrees of where it was when the job
started (at most ``max_wait`` seconds), a number pauses that many seconds,
``off`` does neither.  Readings are taken before and after every execution
and stored with its record; a run that heats the device by more than
``warn_rise`` degrees earns a one-line warning.  Every backend gets this on
every device; where no temperature is readable (many VMs), ``auto`` simply
does not wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import attrs

from pocketbench.core.api.errors import DeviceError, UsageError
from pocketbench.core.api.hooks import hookimpl

if TYPE_CHECKING:
    from pocketbench.core.api.model import Job, Prepared, Readings, RunRecord
    from pocketbench.core.devices.base import Device

_log = logging.getLogger("pocketbench.hygiene")


def parse_cooldown(value: str | float | None) -> str | float:
    """``"auto"``, ``"off"`` or a pause in seconds (``"30"``, ``30.0``)."""
    if value is None:
        return "off"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "off"):
            return text
        if text in ("0", "none", "no"):
            return "off"
        try:
            value = float(text.removesuffix("s"))
        except ValueError:
            raise UsageError(
                f"bad cooldown {value!r}: use auto, off or a number of seconds"
            ) from None
    from pocketbench.core.kit import checks

    seconds = checks.cooldown_seconds("--cooldown", value)
    return seconds if seconds else "off"


class Hygiene:
    """Cooldown before, readings around, and heat warnings after every execution.

    :param cooldown: ``"auto"`` (wait for the temperature to come back),
        ``"off"``, or a fixed pause in seconds before every execution but
        the job's first.
    :param delta: how close (degrees C) to the job's starting temperature
        ``auto`` waits to get.
    :param max_wait: the longest ``auto`` waits before one run, seconds.
    :param poll: seconds between temperature readings while waiting.
    :param warn_rise: warn when one execution heats the device by more than
        this many degrees C.
    :param sleep: how to wait (tests pass a fake that records the waits).
    :param echo: where one-line notices go (default: the
        ``pocketbench.hygiene`` logger at warning level).
    """

    def __init__(
        self,
        cooldown: str | float = "auto",
        *,
        delta: float = 2.0,
        max_wait: float = 180.0,
        poll: float = 5.0,
        warn_rise: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.cooldown = parse_cooldown(cooldown)
        if poll <= 0 or max_wait < 0 or delta < 0:
            raise UsageError("cooldown poll must be positive, max_wait and delta not negative")
        self.delta = delta
        self.max_wait = max_wait
        self.poll = poll
        self.warn_rise = warn_rise
        self.sleep = sleep
        self.echo = echo or _log.warning
        #: (device name, job config) -> hottest temperature when the job started (None: unreadable).
        self.baselines: dict[tuple[str, str], float | None] = {}
        self._lock = threading.Lock()

    @hookimpl(wrapper=True)
    def pocketbench_execute(
        self, job: Job, device: Device, prepared: Prepared, index: int, warmup: bool
    ) -> Generator[None, RunRecord, RunRecord]:
        before = self.before_run(job, device)
        record = yield
        after = self._after(device)
        self.check_rise(device, index, warmup, before, after)
        if record is None:
            return record
        return attrs.evolve(record, before=before, after=after)

    def before_run(self, job: Job, device: Device) -> Readings:
        """Cool down as configured; the readings the run starts from."""
        key = (device.name, job.config_key())
        with self._lock:
            first = key not in self.baselines
        if first:
            readings = device.readings()
            with self._lock:
                self.baselines[key] = readings.max_temperature()
            return readings
        if self.cooldown == "off":
            return device.readings()
        if isinstance(self.cooldown, float):
            self.sleep(self.cooldown)
            return device.readings()
        return self._wait_for_cool(device, self.baselines[key])

    def _wait_for_cool(self, device: Device, baseline: float | None) -> Readings:
        readings = device.readings()
        temp = readings.max_temperature()
        if baseline is None or temp is None or temp <= baseline + self.delta:
            return readings
        self.echo(
            f"cooldown: {device.name} is at {temp:.1f} °C; waiting until it is within "
            f"{self.delta:g} °C of {baseline:.1f} °C (at most {self.max_wait:g} s)"
        )
        waited = 0.0
        while temp is not None and temp > baseline + self.delta and waited < self.max_wait:
            step = min(self.poll, self.max_wait - waited)
            self.sleep(step)
            waited += step
            readings = device.readings()
            temp = readings.max_temperature()
        if temp is not None and temp > baseline + self.delta:
            self.echo(
                f"cooldown: {device.name} is still at {temp:.1f} °C after {waited:g} s "
                f"(started at {baseline:.1f} °C); running anyway"
            )
        return readings

    def _after(self, device: Device) -> Readings | None:
        # The run itself is done and must be stored; a device lost now is
        # reported by the next step that needs it.
        try:
            return device.readings()
        except DeviceError as exc:
            self.echo(f"readings after the run failed: {exc}")
            return None

    def check_rise(
        self, device: Device, index: int, warmup: bool, before: Readings, after: Readings | None
    ) -> float | None:
        """Warn when the execution heated the device past ``warn_rise``; the rise."""
        start = before.max_temperature()
        end = after.max_temperature() if after is not None else None
        if start is None or end is None:
            return None
        rise = end - start
        if rise > self.warn_rise:
            what = f"warm-up {index + 1}" if warmup else f"run {index + 1}"
            self.echo(
                f"{device.name}: {what} heated the device by {rise:.1f} °C ({start:.1f} -> {end:.1f} °C); "
                "it may be throttling: let it cool down between runs, or use fewer threads"
            )
        return rise
