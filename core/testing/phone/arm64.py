"""The loopback phone's arm64 mode: it says it is an arm64 phone and runs ARM code.

:func:`arm64_fixture` makes the daemon report ABI ``arm64-v8a`` and the
``/proc/cpuinfo`` of a Galaxy A25 class phone (Exynos 1280: Cortex-A78 and
Cortex-A55 cores, dot product and fp16 arithmetic, no i8mm).  The daemon
still runs commands on this host, but a pushed aarch64 executable really
runs: the kernel hands it to ``qemu-aarch64`` through ``binfmt_misc``, just as
a phone's kernel would run it natively.  ``scripts/setup.sh test`` installs
Debian's ``qemu-user-static`` and ``binfmt-support`` and registers the
handler; :func:`arm64_unavailable` says why ARM code cannot run here, for a
test's skip reason.

Why binfmt_misc and not an explicit ``qemu-aarch64-static PROGRAM``: the
phone's programs are started by shell scripts (the device wrapper, the
runner's own ``exec``), by path; only the kernel sees every exec.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from pocketbench.testing.phone.adbd import DEFAULT_PROPS, Fixture

#: An Exynos 1280's /proc/cpuinfo as Android 14 prints it (2x A78, 6x A55).
_A55 = "0xd05"
_A78 = "0xd41"
_FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
    "asimdrdm lrcpc dcpop asimddp"
)


def _cpu(n: int, part: str) -> str:
    return (
        f"processor\t: {n}\nBogoMIPS\t: 52.00\nFeatures\t: {_FEATURES}\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\n"
        f"CPU variant\t: {'0x1' if part == _A78 else '0x2'}\nCPU part\t: {part}\n"
        "CPU revision\t: 0\n\n"
    )


CPUINFO = "".join(_cpu(n, _A55 if n < 6 else _A78) for n in range(8)) + "Hardware\t: Exynos1280\n"

ARM64_PROPS: dict[str, str] = {
    **DEFAULT_PROPS,
    "ro.product.cpu.abi": "arm64-v8a",
    "ro.product.cpu.abilist": "arm64-v8a,armeabi-v7a,armeabi",
    "ro.soc.manufacturer": "Samsung",
    "ro.soc.model": "Exynos 1280",
    "ro.hardware": "s5e8825",
}

#: Where binfmt_misc lists the registered qemu handler.
BINFMT_ENTRY = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def arm64_fixture(**kw: Any) -> Fixture:
    """A :class:`Fixture` of an arm64 phone; keyword arguments override its fields."""
    props = {**ARM64_PROPS, **kw.pop("props", {})}
    return Fixture(props=props, cpuinfo=kw.pop("cpuinfo", CPUINFO), **kw)


def arm64_unavailable() -> str | None:
    """Why aarch64 executables cannot run on this host; None when they can."""
    if platform.machine() in ("aarch64", "arm64"):
        return None
    try:
        state = BINFMT_ENTRY.read_text().splitlines()[:1]
    except OSError:
        return (
            "aarch64 executables cannot run here: qemu-aarch64 is not registered with "
            "binfmt_misc (run `bash scripts/setup.sh test` as root)"
        )
    if state != ["enabled"]:
        return f"the qemu-aarch64 binfmt_misc handler is {state[0] if state else 'unreadable'}"
    return None
