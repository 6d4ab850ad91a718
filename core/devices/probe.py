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

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from attrs import field, frozen

from pocketbench.core.api.bandwidth import ProbeToolchain
from pocketbench.core.api.errors import SetupError
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.cache import cache_dir, file_lock, temp_beside

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


def _host_cc(target: str, flags: tuple[str, ...]) -> ProbeToolchain:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SetupError(
            "no C compiler for the bandwidth probe: install one (scripts/setup.sh installs g++)"
        )
    return ProbeToolchain(command=(cc,), target=target, flags=flags, description=cc)


def source() -> bytes:
    return resources.files("pocketbench.core.devices").joinpath("bwprobe.c").read_bytes()


def build(toolchain: ProbeToolchain) -> Path:
    """The probe built with ``toolchain``, from the cache when it was built before."""
    text = source()
    # The description carries the compiler's version (zig's path alone does not).
    recipe = f"{toolchain.text}\0{toolchain.description}"
    key = hashlib.sha256(text + b"\0" + recipe.encode()).hexdigest()[:16]
    folder = cache_dir("probe")
    out = folder / f"bwprobe-{key}"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    with file_lock(folder / f".bwprobe-{key}.lock"):
        if out.is_file() and os.access(out, os.X_OK):
            return out
        with temp_beside(folder / f"bwprobe-{key}.c") as src, temp_beside(out) as binary:
            src.write_bytes(text)
            argv = [*toolchain.command, "-O3", "-pthread", "-x", "c", str(src), "-o", str(binary)]
            argv += list(toolchain.flags)
            try:
                proc = subprocess.run(
                    argv, capture_output=True, text=True, errors="replace", timeout=300,
                    stdin=subprocess.DEVNULL, env={**os.environ, **toolchain.env},
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SetupError(
                    f"cannot build the bandwidth probe with {toolchain.text}: {exc}"
                ) from None
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
                raise SetupError(f"cannot build the bandwidth probe with {toolchain.text}: {last}")
            binary.chmod(0o755)
            # Published with one rename, so a concurrent bench never runs half a file.
            os.replace(binary, out)
    return out


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
    if device.is_local:
        path = str(binary)
    else:
        path = device.push(binary, f"{device_dir or DEVICE_DIR}/{binary.name}")
        chmod = device.run(["chmod", "755", path], timeout=60)
        if not chmod.ok:
            raise SetupError(
                f"cannot make the bandwidth probe executable on {device.name}: {chmod.stderr.strip()[:200]}"
            )
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
