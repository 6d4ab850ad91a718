"""The core's small C programs for devices: compiled once per toolchain, cached, pushed.

Two programs live beside this module as package data: the memory-bandwidth
probe (``bwprobe.c``, :mod:`.probe`) and the phone's token launcher
(``tokenlaunch.c``, :mod:`pocketbench.core.engine.tokenlauncher`).  Each is
compiled with a :class:`~pocketbench.core.api.bandwidth.ProbeToolchain` (the
host's compiler, or the zig cross toolchain a phone's runtime is built
with), cached by the hash of its source and of the toolchain (its command,
flags and the compiler's version), and pushed into the device folder the
toolchain names: beside the runtime, when the backend said where.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pocketbench.core.api.bandwidth import ProbeToolchain
from pocketbench.core.api.errors import SetupError
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.cache import cache_dir, file_lock, temp_beside


def source(name: str) -> bytes:
    """The C source ``name`` (e.g. ``bwprobe.c``) shipped with this package."""
    return resources.files("pocketbench.core.devices").joinpath(name).read_bytes()


def build(name: str, toolchain: ProbeToolchain, what: str, cflags: Sequence[str] = ()) -> Path:
    """``name`` compiled with ``toolchain``, from the cache when it was built before.

    :param what: the program as a person names it, for the one-line error.
    :raises SetupError: one line when the compiler cannot run or fails.
    """
    text = source(name)
    stem = name.removesuffix(".c")
    # The description carries the compiler's version (zig's path alone does not).
    recipe = f"{toolchain.text}\0{toolchain.description}\0{' '.join(cflags)}"
    key = hashlib.sha256(text + b"\0" + recipe.encode()).hexdigest()[:16]
    folder = cache_dir("native")
    out = folder / f"{stem}-{key}"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    with file_lock(folder / f".{stem}-{key}.lock"):
        if out.is_file() and os.access(out, os.X_OK):
            return out
        with temp_beside(folder / f"{stem}-{key}.c") as src, temp_beside(out) as binary:
            src.write_bytes(text)
            argv = [*toolchain.command, *cflags, "-x", "c", str(src), "-o", str(binary)]
            argv += list(toolchain.flags)
            try:
                proc = subprocess.run(
                    argv, capture_output=True, text=True, errors="replace", timeout=300,
                    stdin=subprocess.DEVNULL, env={**os.environ, **toolchain.env},
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SetupError(f"cannot build {what} with {toolchain.text}: {exc}") from None
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1][:200]
                raise SetupError(f"cannot build {what} with {toolchain.text}: {last}")
            binary.chmod(0o755)
            # Published with one rename, so a concurrent bench never runs half a file.
            os.replace(binary, out)
    return out


def install(device: Device, binary: Path, device_dir: str, what: str, *, chmod: bool = True) -> str:
    """``binary`` pushed (when the device lacks it) into ``device_dir``, executable; its path there.

    On this host the binary runs where it was built.  A push carries the
    file's mode (the build is 0755), so ``chmod=False`` trusts it and starts
    no process on the device before the job's runs.

    :raises SetupError: one line when it cannot be made executable on the device.
    """
    if device.is_local:
        return str(binary)
    path = device.push(binary, f"{device_dir}/{binary.name}")
    if not chmod:
        return path
    chmod_run = device.run(["chmod", "755", path], timeout=60)
    if not chmod_run.ok:
        raise SetupError(
            f"cannot make {what} executable on {device.name}: {chmod_run.stderr.strip()[:200]}"
        )
    return path
