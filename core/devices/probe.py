"""The memory-bandwidth probe: built for a device, pushed, run, its output read.

``bwprobe.c`` (package data beside this module) is compiled once per
toolchain and cached.  A :class:`~pocketbench.core.api.bandwidth.ProbeToolchain`
is a compiler command and the target it builds for: the host's ``cc`` for this
host, and for a phone the zig cross toolchain the runtimes are built with
(:mod:`pocketbench.core.kit.zig`) -- the backend's own choice when it says
one (hook ``pocketbench_probe_toolchain``), which also puts the probe beside
its runtime on the device.  What the figures mean (which kernel, which bytes)
is documented in the C file.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from attrs import field, frozen

from pocketbench.core.api.bandwidth import ProbeToolchain
from pocketbench.core.api.errors import PocketbenchError, SetupError
from pocketbench.core.devices import native
from pocketbench.core.devices.base import Device

#: The probe's output format (first line ``bwprobe 2``); parsers refuse others.
FORMAT = 2
KERNELS = ("read", "copy", "triad")
#: Device-side folder of the probe (beside the runtimes' own folders).
DEVICE_DIR = "pocketbench-probe"
#: Android ABI (or ``uname -m``) -> the architecture a compiler targets.
ARCH_OF_ABI = {
    "arm64-v8a": "aarch64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armeabi-v7a": "arm",
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x86": "x86",
    "i686": "x86",
}
#: Architecture -> zig's target triple (musl, fully static: runs on Android's bionic too).
ZIG_TARGETS = {"aarch64": "aarch64-linux-musl", "arm": "arm-linux-musleabihf", "x86_64": "x86_64-linux-musl"}  # fmt: skip
#: Architecture -> Debian's cross gcc (static with glibc), when zig cannot be had.
GNU_CROSS = {"aarch64": "aarch64-linux-gnu-gcc", "arm": "arm-linux-gnueabihf-gcc"}
#: A user's compiler command for the probe, e.g. "zig cc -target aarch64-linux-musl -static".
CC_ENV = "POCKETBENCH_PROBE_CC"
#: Kept for callers of the first version of this module.
Toolchain = ProbeToolchain


@frozen(kw_only=True)
class ProbeOutput:
    """One run of the probe: its samples in GB/s per kernel (10^9 bytes per second)."""

    threads: int
    cpus: tuple[int, ...]
    #: Bytes of one array over all threads (read touches this much per trial).
    buffer_bytes: int
    samples_gbps: dict[str, tuple[float, ...]]
    #: The CPU each thread ran on at the start (-1: unknown).
    placed: tuple[int, ...] = ()
    #: Per trial: False when a thread was descheduled during it.
    clean: dict[str, tuple[bool, ...]] = field(factory=dict)
    #: The read kernel's vector loads ("avx512 512").
    vector: str = ""
    #: The last-level cache, bytes (0: unknown).
    llc_bytes: int = 0
    #: CPU (cores) other processes and the hypervisor used during the trials (None: unknown).
    others_cores: float | None = None
    steal_cores: float | None = None


def host_arch() -> str:
    machine = platform.machine().lower()
    return ARCH_OF_ABI.get(machine, machine)


def toolchain_for(abi: str, *, local: bool) -> ProbeToolchain:
    """The core's own compiler for the probe on a device of ``abi``.

    ``$POCKETBENCH_PROBE_CC`` wins.  This host gets its own compiler.  A
    phone gets the zig cross toolchain (static musl for its architecture),
    the one pocketbench builds phone runtimes with; without zig, a phone of
    this host's architecture gets the host compiler (static) and another
    architecture Debian's cross gcc.

    :raises SetupError: one line saying which toolchain to install.
    """
    given = os.environ.get(CC_ENV)
    if given:
        return ProbeToolchain(
            command=tuple(shlex.split(given)), target=f"{CC_ENV}={given}", description=given
        )
    arch = ARCH_OF_ABI.get(abi.lower(), abi.lower()) if abi else host_arch()
    if local:
        # This host's own vector loads (AVX2, AVX-512): the runtimes are built for it too.
        return _host_cc("host", ("-march=native",))
    zig_problem = ""
    if arch in ZIG_TARGETS:
        from pocketbench.core.kit.zig import find_zig

        try:
            zig = find_zig()
        except SetupError as exc:
            zig_problem = f" ({exc})"
        else:
            return ProbeToolchain(
                command=zig.cc(ZIG_TARGETS[arch]),
                target=ZIG_TARGETS[arch],
                flags=("-static", "-s"),
                env=zig.env(),
                description=zig.description,
            )
    if arch == host_arch():
        return _host_cc(f"{arch}-static", ("-static",))
    cross = GNU_CROSS.get(arch)
    if cross and shutil.which(cross):
        return ProbeToolchain(
            command=(cross,), target=f"{arch}-linux-gnu-static", flags=("-static",),
            description=cross,
        )  # fmt: skip
    raise SetupError(
        f"a phone probe for {abi or 'this device'} needs the cross toolchain: pip install ziglang"
        f" (or set {CC_ENV} to a compiler command for {arch}){zig_problem}"
    )


def device_toolchain(
    device: Device, backend: Callable[[], ProbeToolchain | None] | None, what: str
) -> ProbeToolchain:
    """How the core's C programs are built for ``device``: the backend's toolchain when it
    names one (hook ``pocketbench_probe_toolchain``), else :func:`toolchain_for`.

    :param what: the program, for the one-line error when the backend's hook fails.
    :raises SetupError: one line when no toolchain can be had.
    """
    toolchain = None
    if backend is not None:
        try:
            toolchain = backend()
        except PocketbenchError:
            raise
        except Exception as exc:  # a plugin's bug costs this program, never the speed results
            raise SetupError(
                f"the backend failed to say how to build {what} ({type(exc).__name__}: {exc})"
            ) from exc
    return toolchain or toolchain_for(device.facts().abi, local=device.is_local)


def _host_cc(target: str, flags: tuple[str, ...]) -> ProbeToolchain:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SetupError(
            "no C compiler for the bandwidth probe: install one (scripts/setup.sh installs g++)"
        )
    return ProbeToolchain(command=(cc,), target=target, flags=flags, description=cc)


def source() -> bytes:
    return native.source("bwprobe.c")


def build(toolchain: ProbeToolchain) -> Path:
    """The probe built with ``toolchain``, from the cache when it was built before."""
    return native.build("bwprobe.c", toolchain, "the bandwidth probe", ("-O3", "-pthread"))


def run(
    device: Device,
    binary: Path,
    *,
    threads: int,
    cpus: Sequence[int] = (),
    buffer_mib: int,
    trials: int,
    timeout: float = 300.0,
    device_dir: str = DEVICE_DIR,
) -> ProbeOutput:
    """Push (when needed) and run the probe on ``device``; its parsed output.

    ``device_dir`` is the folder on the device (under its working directory)
    the probe is pushed to: beside the runtime, when the backend said where.

    :raises SetupError: one line when the probe cannot run or its output is unreadable.
    """
    path = native.install(device, binary, device_dir or DEVICE_DIR, "the bandwidth probe")
    argv = [path, "-t", str(threads), "-m", str(buffer_mib), "-r", str(trials)]
    if cpus:
        argv += ["-c", ",".join(str(c) for c in cpus)]
    result = device.run(argv, timeout=timeout)
    if not result.ok:
        if result.timed_out:
            why = f"it ran past {timeout:.0f} s"
        else:
            last = (result.stderr.strip().splitlines() or [f"exit code {result.exit_code}"])[-1]
            why = last[:200]
        raise SetupError(f"the bandwidth probe cannot run on {device.name}: {why}")
    return parse(result.stdout)


def parse(text: str) -> ProbeOutput:
    """Read the probe's output (format in ``bwprobe.c``)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != ["bwprobe", str(FORMAT)]:
        raise SetupError(
            f"the bandwidth probe printed no bwprobe {FORMAT} header; it is not this probe"
        )
    threads, cpus, buffer_bytes, llc, vector = 0, (), 0, 0, ""
    samples: dict[str, list[float]] = {k: [] for k in KERNELS}
    clean: dict[str, list[bool]] = {k: [] for k in KERNELS}
    cpu_use: dict[str, float | None] = {"others": None, "steal": None}
    placed: list[int] = []
    try:
        for words in lines[1:]:
            head = words[0]
            if head == "threads":
                threads = int(words[1])
            elif head == "cpus":
                cpus = tuple(int(c) for c in words[1].split(",")) if len(words) > 1 else ()
            elif head == "bytes":
                buffer_bytes = int(words[1])
            elif head == "placed":
                placed.append(int(words[2]))
            elif head == "vector":
                vector = " ".join(words[1:3])
            elif head == "llc":
                llc = max(0, int(words[1]))
            elif head in cpu_use:
                value = float(words[1])
                cpu_use[head] = value if value >= 0 else None
            elif head in samples:
                nbytes, ns = int(words[2]), int(words[3])
                # bytes per nanosecond is GB/s; a trial below the clock's resolution is no figure.
                samples[head].append(nbytes / ns if ns > 0 else float("inf"))
                clean[head].append(words[4] == "1")
    except (IndexError, ValueError):
        raise SetupError(
            f"the bandwidth probe printed a line it should not: {' '.join(words)[:120]}"
        ) from None
    if threads < 1 or not all(samples.values()):
        raise SetupError("the bandwidth probe's output is incomplete (no trials); run it again")
    return ProbeOutput(
        threads=threads,
        cpus=cpus,
        buffer_bytes=buffer_bytes,
        samples_gbps={k: tuple(v) for k, v in samples.items()},
        placed=tuple(placed),
        clean={k: tuple(v) for k, v in clean.items()},
        vector=vector,
        llc_bytes=llc,
        others_cores=cpu_use["others"],
        steal_cores=cpu_use["steal"],
    )
