"""Room on a phone for everything a study pushes before its first round.

In interleaved rounds every configuration of a phone is prepared, and its
model pushed, before round 1 (:mod:`~pocketbench.core.engine.rounds`).  A
phone without room for all of them would fail half-way through the pushes,
minutes in; so first each configuration's backend says what its prepare
will push (``pocketbench_device_files``), the phone says what it already
holds and how much is free (``df`` where the files go), and a study that
does not fit stops in one line before anything is pushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pocketbench.core.api.errors import SetupError, UsageError
from pocketbench.core.api.model import DeviceFile, Job
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.status import say

if TYPE_CHECKING:
    from pocketbench.core.engine.runner import Runner


class NoRoom(UsageError):
    """The phone has no room for what its configurations push: said once, for the phone."""


def check_room(runner: Runner, jobs: Sequence[Job], device: Device) -> None:
    """:class:`NoRoom` (exit 2, one line) when ``jobs``' files do not fit in ``device``'s storage.

    Files the phone already holds count for nothing; a file two
    configurations share counts once.  A backend without the hook, or one
    that cannot say (its prepare will), leaves its configuration uncounted.
    """
    if device.is_local or not jobs:
        return
    files: dict[str, DeviceFile] = {}
    per_job: list[list[str]] = []
    for job in jobs:
        listed = _listed(runner, job, device)
        per_job.append([f.name for f in listed])
        for f in listed:
            files.setdefault(f.name, f)
    if not files:
        return
    try:
        free = device.free_storage()
    except SetupError as exc:  # an unreadable df: the push itself still says "no space"
        say(f"note: {exc}; the files are pushed without checking the room for them first")
        return
    if free is None:
        return
    missing = {name: f.size for name, f in files.items() if not device.holds(f.local, name)}
    need = sum(missing.values())
    if need <= free:
        return
    largest = max(sum(missing.get(n, 0) for n in names) for names in per_job)
    # Pushed files stay on the phone (a second study finds them there), so running in
    # sequence would need the same room in the end: the answer is room, or fewer models.
    what = f"free {_size(need - free)} on the phone (files of earlier studies stay in that folder)"
    if largest <= free:
        what += " or measure fewer configurations"
    configurations = "its configuration" if len(jobs) == 1 else f"the {len(jobs)} configurations"
    raise NoRoom(
        f"{device.name} has {_size(free)} free in {device.workdir()} but {configurations} it"
        f" measures in rounds push {_size(need)} ({len(missing)} files it does not hold yet)"
        f" before round 1; {what}"
    )


def _listed(runner: Runner, job: Job, device: Device) -> list[DeviceFile]:
    """What ``job``'s prepare will push; nothing when its backend cannot say."""
    pm = runner.registry.backend_manager(job.backend)
    try:
        listed = pm.hook.pocketbench_device_files(job=job, device=device)
    except Exception:  # noqa: BLE001 - prepare fails on the same cause, and says it
        return []
    return [f for f in listed or () if isinstance(f, DeviceFile) and f.local.is_file()]


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"
