"""Build the llama.cpp command-line tools once, from the pinned PyPI source package.

No registry ships ready-built llama.cpp tools, but the source package of
llama-cpp-python carries the whole llama.cpp tree (tools included) under
``vendor/llama.cpp``.  It is built with cmake + ninja into the user's cache
directory, once per (version, flags) pair; later jobs find the binaries there.

The build is guarded by a file lock (two ``bench`` processes never build at
once), happens in a temporary directory and is published with one atomic
rename, so a crash or Ctrl-C never leaves a half-built cache entry behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from pocketbench.plugin import (
    SetupError,
    Status,
    cache_dir,
    cached_dir,
    child,
    file_lock,
    publish_dir,
    run_child,
    say,
    status,
)

#: llama-cpp-python release whose source package carries the llama.cpp tree.
LCP_VERSION = "0.3.36"
#: The llama.cpp commit vendored in that release (its CHANGELOG names it).  The
#: tree in the sdist has no usable .git, so cmake is told the commit explicitly.
LLAMACPP_COMMIT = "0c1e57098"
#: sha256 of ``llama_cpp_python-0.3.36.tar.gz`` on PyPI: a replaced or
#: corrupted archive is refused instead of being built.
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SDIST_NAME = f"llama_cpp_python-{LCP_VERSION}.tar.gz"
#: Where the tree sits inside the archive.
SDIST_TREE = f"llama_cpp_python-{LCP_VERSION}/vendor/llama.cpp/"

#: The tools the backend uses; nothing else is built (each target costs minutes).
#: llama-perplexity measures quality (``--quality``): its KL-divergence mode
#: compares a configuration's next-token distributions with a reference's.
TARGETS: tuple[str, ...] = (
    "llama-completion",
    "llama-quantize",
    "llama-bench",
    "llama-tokenize",
    "llama-perplexity",
)

#: Bumped when the build recipe changes in a way the flags do not show.
RECIPE_VERSION = 2

#: One source fix applied before building.  At this commit the common logger
#: is an intentionally leaked singleton whose worker thread prints queued
#: lines asynchronously; when llama-completion returns from main() right after
#: printing its timings, the process can exit before the worker has written
#: them (about 1 run in 15 here, more under load).  Pausing the logger joins
#: the worker after it has drained the queue.  (The same loss can happen with
#: a user's own build of this era; the parser then says so.)
_PATCH_FILE = "tools/completion/completion.cpp"
_PATCH_ANCHOR = "    common_perf_print(ctx, smpl);\n"
_PATCH_TEXT = (
    _PATCH_ANCHOR
    + "\n    // pocketbench: flush the asynchronous log before exit (timings are logged)\n"
    + "    common_log_pause(common_log_main());\n"
)

BASE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    # Without these two the configure step tries to download web-UI assets.
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    # A native build on a CPU with AMX enables ggml's AMX backend, which
    # crashes on every Q8_0/Q4_0 model (facts.md).  Instruction sets are
    # therefore chosen explicitly below.
    "-DGGML_NATIVE=OFF",
    f"-DLLAMA_BUILD_COMMIT={LLAMACPP_COMMIT}",
    "-DLLAMA_BUILD_NUMBER=0",
)

#: x86 instruction-set options enabled when the CPU has them.  AVX-512 and
#: AMX are left out on purpose: AMX is the crash above, and AVX-512 changes
#: little for these kernels while making the binary unusable on many hosts.
_X86_FEATURES: tuple[tuple[str, str], ...] = (
    ("avx", "GGML_AVX"),
    ("avx2", "GGML_AVX2"),
    ("fma", "GGML_FMA"),
    ("f16c", "GGML_F16C"),
    ("bmi2", "GGML_BMI2"),
)

_NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")


def cpu_flags() -> tuple[str, ...]:
    """The cmake instruction-set flags for this host (non-native, AMX-free)."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "i686", "i386"):
        return ()
    have: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                break
    return tuple(f"-D{opt}={'ON' if feat in have else 'OFF'}" for feat, opt in _X86_FEATURES)


def build_flags() -> tuple[str, ...]:
    """Every cmake option of the build; their hash names the cache entry."""
    return BASE_FLAGS + cpu_flags()


def build_key(flags: tuple[str, ...] | None = None) -> str:
    """``<version>-<hash of flags, targets and recipe>``: the cache entry's name."""
    flags = build_flags() if flags is None else flags
    blob = json.dumps([RECIPE_VERSION, list(flags), list(TARGETS), _PATCH_TEXT]).encode()
    return f"{LCP_VERSION}-{hashlib.sha256(blob).hexdigest()[:12]}"


def built_bin_dir() -> Path | None:
    """The cached binaries' directory when a complete build exists, else None."""
    dest = cache_dir("llamacpp") / build_key()
    # Every tool's size and digest, recorded when the build was published:
    # a truncated or overwritten binary is rebuilt, never run.
    if cached_dir(dest, ("build.json", *(f"bin/{t}" for t in TARGETS))):
        return dest / "bin"
    return None


def ensure_built() -> Path:
    """Return the directory of the built tools, building them first if needed."""
    found = built_bin_dir()
    if found is not None:
        return found
    root = cache_dir("llamacpp")
    key = build_key()
    with file_lock(root / f"{key}.lock"):
        # Another process may have finished the build while we waited.
        found = built_bin_dir()
        if found is not None:
            return found
        _check_toolchain()
        sdist = _ensure_sdist(root)
        log = root / f"{key}.build.log"
        dest = root / key
        if dest.exists():  # a leftover without build.json: never published
            shutil.rmtree(dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
        try:
            _build(sdist, tmp, log)
            tmp.chmod(0o755)  # mkdtemp made it private
            publish_dir(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    found = built_bin_dir()
    if found is None:  # pragma: no cover - the rename above publishes it
        raise SetupError(f"llama.cpp build finished but {dest} is incomplete; see {log}")
    say(f"llama.cpp tools built in {found}")
    return found


def _check_toolchain() -> None:
    """Fail with the Debian packages to install when a build tool is missing."""
    cxx = os.environ.get("CXX") or next(
        (c for c in ("c++", "g++", "clang++") if shutil.which(c)), None
    )
    missing = [
        pkg
        for pkg, ok in (
            ("cmake", shutil.which("cmake")),
            ("g++", cxx and shutil.which(cxx.split()[0])),
            ("ninja-build", shutil.which("ninja")),
        )
        if not ok
    ]
    if missing:
        raise SetupError(
            "building llama.cpp needs cmake, a C++ compiler and ninja; install them with "
            f"`sudo apt-get install {' '.join(missing)}` or pass --llamacpp-bin DIR"
        )


def _ensure_sdist(root: Path) -> Path:
    """The pinned source archive, downloaded from PyPI with pip when absent.

    ``POCKETBENCH_LLAMACPP_SDIST`` may name an archive already on disk (an
    offline machine); its hash is checked like a downloaded one.
    """
    given = os.environ.get("POCKETBENCH_LLAMACPP_SDIST")
    if given:
        path = Path(given)
        if not path.is_file():
            raise SetupError(f"POCKETBENCH_LLAMACPP_SDIST={given}: no such file")
        _verify_sdist(path)
        return path
    src = root / "src"
    src.mkdir(exist_ok=True)
    path = src / SDIST_NAME
    if path.is_file():
        _verify_sdist(path)
        return path
    with tempfile.TemporaryDirectory(dir=src) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"llama-cpp-python=={LCP_VERSION}", "-d", tmp,
        ]  # fmt: skip
        proc = run_child(cmd, capture_output=True, text=True, errors="replace")
        got = Path(tmp) / SDIST_NAME
        if proc.returncode != 0 or not got.is_file():
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SetupError(
                f"cannot download llama-cpp-python=={LCP_VERSION} source from PyPI ({last}); "
                "set POCKETBENCH_LLAMACPP_SDIST to a downloaded copy or pass --llamacpp-bin DIR"
            )
        _verify_sdist(got)
        os.replace(got, path)
    return path


def _verify_sdist(path: Path) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    if h.hexdigest() != SDIST_SHA256:
        raise SetupError(
            f"{path}: sha256 {h.hexdigest()[:16]}... is not the pinned "
            f"llama-cpp-python {LCP_VERSION} source; delete it to download it again"
        )


def _extract_tree(sdist: Path, dest: Path) -> Path:
    """Unpack only ``vendor/llama.cpp`` as a real directory (not a symlink)."""
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(SDIST_TREE)]
        for m in members:
            m.name = m.name[len(SDIST_TREE) :]
        members = [m for m in members if m.name]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(dest, members=members)  # noqa: S202 - pinned, hash-checked archive
    # The tree's `.git` file points at a submodule directory the archive does
    # not carry; git (run by cmake for build info) would only print errors.
    (dest / ".git").unlink(missing_ok=True)
    _patch(dest)
    return dest


def _patch(tree: Path) -> None:
    """Apply :data:`_PATCH_TEXT`; the pinned source must contain the anchor once."""
    path = tree / _PATCH_FILE
    text = path.read_text(encoding="utf-8")
    if _PATCH_TEXT in text:
        return  # already applied
    if text.count(_PATCH_ANCHOR) != 1:
        raise SetupError(
            f"cannot apply the log-flush fix to {_PATCH_FILE}: the source is not the pinned one"
        )
    path.write_text(text.replace(_PATCH_ANCHOR, _PATCH_TEXT), encoding="utf-8")


def _build(sdist: Path, tmp: Path, log: Path) -> None:
    """Configure and build into ``tmp``; leaves ``tmp/bin`` and ``tmp/build.json``."""
    flags = build_flags()
    with status("building llama.cpp tools (one time, ~4 min)...") as live:
        live.update("building llama.cpp tools (one time, ~4 min): unpacking source...")
        src = _extract_tree(sdist, tmp / "src")
        build = tmp / "build"
        jobs = str(os.cpu_count() or 2)
        with open(log, "w", encoding="utf-8") as logf:
            steps = (
                ("configuring", ["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", *flags]),
                (
                    "compiling",
                    ["cmake", "--build", str(build), "-j", jobs, "--target", *TARGETS],
                ),
            )
            for what, cmd in steps:
                logf.write("$ " + " ".join(cmd) + "\n")
                logf.flush()
                _stream(cmd, logf, live, what, log)
    keep_binaries(build, tmp, TARGETS, log, "llama.cpp build")
    info = {
        "llama_cpp_python": LCP_VERSION,
        "commit": LLAMACPP_COMMIT,
        "flags": list(flags),
        "targets": list(TARGETS),
        "log": str(log),
    }
    (tmp / "build.json").write_text(json.dumps(info, indent=1) + "\n")
    # Sources and objects are hundreds of MB; the static binaries are all we keep.
    shutil.rmtree(src, ignore_errors=True)
    shutil.rmtree(build, ignore_errors=True)


def keep_binaries(build: Path, dest: Path, targets: tuple[str, ...], log: Path, what: str) -> None:
    """Copy the built tools ``targets`` from cmake's ``build/bin`` into ``dest/bin``.

    Shared by the host build and the cross-build: a tool missing from the
    build is one line naming ``what`` and its log.
    """
    bin_dir = dest / "bin"
    bin_dir.mkdir()
    for name in targets:
        built = build / "bin" / name
        if not built.is_file():
            raise SetupError(f"{what} produced no {name}; see {log}")
        shutil.copy2(built, bin_dir / name)


def _stream(
    cmd: list[str],
    logf: IO[str],
    status: Status,
    what: str,
    log: Path,
    label: str = "building llama.cpp tools (one time, ~4 min)",
    env: dict[str, str] | None = None,
) -> None:
    """Run ``cmd`` with its output into the log, showing ninja's [n/m] progress."""
    # Its own process group, stopped whole with bench: ninja and the compilers too.
    started = False
    try:
        with child(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            env=env,
        ) as proc:  # fmt: skip
            started = True
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                m = _NINJA_PROGRESS.match(line)
                if m:
                    status.update(f"{label}: {what} {m[1]}/{m[2]}...")
            logf.flush()
            proc.wait()
    except OSError as exc:
        if started:  # writing the log failed, not starting the tool
            raise
        raise SetupError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise SetupError(f"llama.cpp build failed while {what} (exit {proc.returncode}); see {log}")
