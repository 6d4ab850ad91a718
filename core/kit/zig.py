"""The zig cross toolchain: one C/C++ compiler for every phone, found or installed once.

No NDK: zig (the ``ziglang`` package on PyPI) is a complete cross compiler
with its own libc, so static Linux executables for a phone's ABI come out of
this host.  Everything pocketbench builds for a phone uses this one
toolchain: a backend's runtime (llama.cpp's cross-build) and the core's
memory-bandwidth probe, so the probe's figure is that of code built the way
the runtime was.

Zig comes from, in order: ``POCKETBENCH_ZIG`` (a zig executable), the
``ziglang`` package of this Python environment, or a one-time
``pip install --target`` into the cache.  Its own compile cache (libc built
per target) lives in the cache directory too.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import SetupError
from pocketbench.core.kit.cache import cache_dir, file_lock
from pocketbench.core.kit.children import run_child
from pocketbench.core.kit.status import status

#: The ziglang release installed when this environment has none.
ZIG_VERSION = "0.17.1"
#: A zig executable to use instead of the ``ziglang`` package.
ZIG_ENV = "POCKETBENCH_ZIG"


@frozen(kw_only=True)
class ZigToolchain:
    """A zig executable and the version it reports."""

    path: Path
    version: str
    origin: str

    @property
    def description(self) -> str:
        return f"zig {self.version} ({self.origin})"

    def env(self) -> dict[str, str]:
        """Environment of every zig call: its compile cache under pocketbench's cache."""
        cache = str(cache_dir("zig"))
        return {"ZIG_GLOBAL_CACHE_DIR": cache, "ZIG_LOCAL_CACHE_DIR": cache}

    def cc(self, triple: str, mcpu: str = "") -> tuple[str, ...]:
        """The C compiler command for ``triple`` (and an LLVM ``-mcpu`` when given)."""
        return (str(self.path), "cc", "-target", triple, *((f"-mcpu={mcpu}",) if mcpu else ()))


def find_zig(*, otherwise: str = "") -> ZigToolchain:
    """zig: ``POCKETBENCH_ZIG``, this environment's ``ziglang``, or one installed into the cache.

    :param otherwise: what the user can do instead, appended to the one-line
        error when zig cannot be installed (e.g. "pass --llamacpp-bin DIR ...").
    :raises SetupError: one line when no zig runs.
    """
    given = os.environ.get(ZIG_ENV)
    if given:
        return _version(Path(given), ZIG_ENV, hint=f"point {ZIG_ENV} at a zig executable")
    spec = importlib.util.find_spec("ziglang")
    if spec is not None and spec.origin:
        return _version(Path(spec.origin).parent / "zig", "ziglang from PyPI", hint=_REINSTALL)
    return _installed_zig(otherwise)


_REINSTALL = f"reinstall it with `pip install --force-reinstall ziglang=={ZIG_VERSION}`"


def _version(path: Path, origin: str, *, hint: str) -> ZigToolchain:
    try:
        proc = subprocess.run(
            [str(path), "version"], capture_output=True, text=True, errors="replace",
            timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"the zig toolchain {path} does not run ({exc}); {hint}") from None
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version:
        raise SetupError(f"the zig toolchain {path} does not run (exit {proc.returncode}); {hint}")
    return ZigToolchain(path=path, version=version, origin=origin)


def _installed_zig(otherwise: str) -> ZigToolchain:
    root = cache_dir("toolchains")
    dest = root / f"ziglang-{ZIG_VERSION}"
    zig = dest / "ziglang" / "zig"
    hint = f"delete {dest} to install it again"
    if zig.is_file():
        return _version(zig, f"ziglang {ZIG_VERSION} from PyPI, in {root}", hint=hint)
    with file_lock(root / f"ziglang-{ZIG_VERSION}.lock"):
        if not zig.is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".ziglang.", dir=root))
            try:
                with status(f"installing the zig toolchain (ziglang=={ZIG_VERSION}, ~100 MB)..."):
                    cmd = [
                        sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", "--target", str(tmp), f"ziglang=={ZIG_VERSION}",
                    ]  # fmt: skip
                    proc = run_child(cmd, capture_output=True, text=True, errors="replace")
                if proc.returncode != 0 or not (tmp / "ziglang" / "zig").is_file():
                    last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
                    instead = f" or {otherwise}" if otherwise else ""
                    raise SetupError(
                        f"cannot install the zig toolchain (ziglang=={ZIG_VERSION}) from PyPI: "
                        f"{last}; install it with `pip install ziglang=={ZIG_VERSION}`{instead}"
                    )
                tmp.chmod(0o755)
                if dest.exists():
                    shutil.rmtree(dest)
                # Published with one rename: a concurrent bench sees all of zig or none.
                os.rename(tmp, dest)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    return _version(zig, f"ziglang {ZIG_VERSION} from PyPI, in {root}", hint=hint)
