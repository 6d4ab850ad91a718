"""Build the llama.cpp command-line tools, from the pinned PyPI source package.

No registry ships ready-built llama.cpp tools, but the source package of
llama-cpp-python carries the whole llama.cpp tree (tools included) under
``vendor/llama.cpp``.  It is built with cmake + ninja into the user's cache
directory, one entry per (version, flags) pair, each tool when a job first
needs it (:mod:`.worktree`); later jobs find the binaries there.

The build is guarded by a file lock (two ``bench`` processes never build at
once) and each tool is published with one atomic rename and a record of its
size and sha256, so a crash or Ctrl-C never leaves a half-built tool behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path

from pocketbench.backends.llamacpp import worktree
from pocketbench.plugin import (
    PackagedArchive,
    SetupError,
    cache_dir,
    fetch_archive,
    file_lock,
    say,
    write_atomic,
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
SDIST = PackagedArchive(
    package="llama-cpp-python", version=LCP_VERSION, archive=SDIST_NAME,
    archive_sha256=SDIST_SHA256, env="POCKETBENCH_LLAMACPP_SDIST", sdist=True,
)  # fmt: skip
#: Where the tree sits inside the archive.
SDIST_TREE = f"llama_cpp_python-{LCP_VERSION}/vendor/llama.cpp/"

#: The tools the backend uses; each is built when a job first needs it.
#: llama-perplexity measures quality (``--quality``): its KL-divergence mode
#: compares a configuration's next-token distributions with a reference's.
TARGETS: tuple[str, ...] = (
    "llama-completion",
    "llama-quantize",
    "llama-bench",
    "llama-tokenize",
    "llama-perplexity",
)
#: What a plain run needs (llama-bench is the cross-check's, llama-perplexity quality's).
RUN_TARGETS: tuple[str, ...] = ("llama-completion", "llama-tokenize", "llama-quantize")

#: Bumped when the build recipe changes in a way the flags do not show.
RECIPE_VERSION = 3

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
    """``<version>-<hash of flags and recipe>``: the cache entry's name."""
    flags = build_flags() if flags is None else flags
    # Not the targets: one entry holds every tool, each built when first needed.
    blob = json.dumps([RECIPE_VERSION, list(flags), _PATCH_TEXT]).encode()
    return f"{LCP_VERSION}-{hashlib.sha256(blob).hexdigest()[:12]}"


def built_bin_dir(names: Iterable[str] = TARGETS) -> Path | None:
    """The cached binaries' directory when every tool of ``names`` is built, else None."""
    dest = cache_dir("llamacpp") / build_key()
    # Each tool's size and digest, recorded when it was published: a truncated
    # or overwritten binary is rebuilt, never run.
    return (
        None
        if worktree.missing(dest, worktree.known(names, TARGETS, "the host build"))
        else dest / "bin"
    )


def ensure_built(names: Iterable[str] = TARGETS) -> Path:
    """The directory of the built tools, building first those of ``names`` it lacks.

    Only the tools asked for are built (a run needs llama-completion,
    llama-tokenize and llama-quantize: :data:`RUN_TARGETS`); a later job that
    asks for another builds just that one in the tree kept for it.
    """
    wanted = worktree.known(names, TARGETS, "the host build")
    found = built_bin_dir(wanted)
    if found is not None:
        return found
    root = cache_dir("llamacpp")
    key = build_key()
    dest = root / key
    log = root / f"{key}.build.log"
    with file_lock(root / f"{key}.lock", waiting="another bench builds the llama.cpp tools"):
        # Another process may have finished the build while we waited.
        if built_bin_dir(wanted) is None:
            _check_toolchain()
            sdist = source_archive()
            _build(sdist, dest, root / f"{key}.tree", log, wanted)
    found = built_bin_dir(wanted)
    if found is None:  # pragma: no cover - _build publishes every tool or raises
        raise SetupError(f"llama.cpp build finished but {dest} is incomplete; see {log}")
    say(f"llama.cpp tools ({', '.join(wanted)}) ready in {found}")
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


def source_archive() -> Path:
    """The pinned source archive: llama-cpp-python's sdist, from PyPI on first use
    (``POCKETBENCH_LLAMACPP_SDIST`` may name a downloaded copy), its sha256 checked."""
    return fetch_archive(SDIST, what="the llama.cpp tools", instead="pass --llamacpp-bin DIR")


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


def _build(sdist: Path, dest: Path, tree: Path, log: Path, names: tuple[str, ...]) -> None:
    """Build the tools of ``names`` that ``dest`` lacks, in the kept ``tree``; see :mod:`.worktree`."""
    flags = build_flags()
    info = {
        "llama_cpp_python": LCP_VERSION,
        "commit": LLAMACPP_COMMIT,
        "flags": list(flags),
        "log": str(log),
    }
    worktree.build_targets(
        entry=dest,
        tree=tree,
        log=log,
        names=names,
        every=TARGETS,
        unpack=lambda into: _extract_tree(sdist, into),
        configure=lambda src, out: ["cmake", "-S", str(src), "-B", str(out), "-G", "Ninja", *flags],
        label="building llama.cpp tools (one time)",
    )
    # Written after the build: a failed first build leaves no entry behind.
    write_atomic(dest / "build.json", (json.dumps(info, indent=1) + "\n").encode())
