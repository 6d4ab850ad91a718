"""Every token's time on a phone: the core's launcher, built for it and pushed beside the runtime.

This host starts every run through its own launcher
(:mod:`pocketbench.core.devices.spawn`).  A phone's runs start through
``tokenlaunch`` (``core/devices/tokenlaunch.c``), which times each piece of
the runtime's stdout on the phone itself, so no adb transport jitter enters
the figures.  It is built like the bandwidth probe: with the backend's cross
toolchain when it names one (hook ``pocketbench_probe_toolchain``: the zig,
target and CPU of the runtime, and the runtime's folder on the phone), else
with the core's own; once per toolchain, cached, and not pushed again when
the phone holds it.  When it cannot be had, the runs go on without it and
each says why it has no per-token times (one line in every report).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pocketbench.core.api.errors import DeviceError, PocketbenchError
from pocketbench.core.devices import native, probe
from pocketbench.core.devices.base import TokenLauncher

if TYPE_CHECKING:
    import pluggy

    from pocketbench.core.api.model import Job
    from pocketbench.core.devices.base import Device

WHAT = "the token launcher"


def install(
    pm: pluggy.PluginManager, job: Job, device: Device, echo: Callable[[str], None]
) -> None:
    """Give ``device`` its launcher for ``job``'s runs, or the one line why it has none.

    Called after ``prepare`` (the runtime's folder on the device exists then).
    A device that times runs by itself (this host) needs nothing.

    :raises DeviceError: the device went away while the launcher was pushed.
    """
    if not device.needs_token_launcher:
        return
    try:
        toolchain = probe.device_toolchain(
            device, lambda: pm.hook.pocketbench_probe_toolchain(job=job, device=device), WHAT
        )
        binary = native.build("tokenlaunch.c", toolchain, WHAT, ("-O2",))
        # No chmod run: the push keeps the build's 0755, and a process started just
        # before the job's first run would show in that run's state readings (load, energy).
        folder = toolchain.device_dir or probe.DEVICE_DIR
        path = native.install(device, binary, folder, WHAT, chmod=False)
    except DeviceError:
        raise
    except PocketbenchError as exc:
        problem = f"{device.name} has no token launcher ({exc})"
        echo(f"note: no per-token times: {problem}; speeds are measured as usual")
        device.use_token_launcher(TokenLauncher(problem=problem))
        return
    device.use_token_launcher(TokenLauncher(path=path))
