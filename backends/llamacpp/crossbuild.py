"""Build llama.cpp's phone tools on this host, for the phone that is plugged in.

No NDK: zig (the ``ziglang`` package on PyPI) is a complete C/C++ cross
compiler with its own libc, so the pinned source that the host build uses
(:mod:`.build`) becomes static Linux executables for the phone's ABI and CPU
features (:mod:`.crosstarget`), and Android runs those as they are.

Zig is the core's (``pocketbench.plugin.find_zig``: ``POCKETBENCH_ZIG``, the
``ziglang`` package, or a one-time install into the cache), the same one the
core builds its memory-bandwidth probe with for this phone
(:func:`probe_compiler`).

Each build is cached per (source, ABI, features, flags, toolchain version),
guarded by a file lock; each tool is built when a job first needs it and
published on its own (:mod:`.worktree`); what is read back is checked
(record, file, ELF machine) before use.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable
from pathlib import Path

from attrs import frozen

from pocketbench.backends.llamacpp import build, worktree
from pocketbench.backends.llamacpp.crosstarget import Target, cpu_features, target_for
from pocketbench.plugin import (
    Device,
    ProbeToolchain,
    SetupError,
    ZigToolchain,
    cache_dir,
    file_lock,
    find_zig,
    read_elf,
    write_atomic,
)

#: The zig toolchain (core's, so the bandwidth probe is built with the same one).
Toolchain = ZigToolchain
#: What runs on the phone; llama-quantize runs on the host (a GGUF is the same
#: file everywhere).  llama-perplexity is here for quality runs on the phone.
TARGETS: tuple[str, ...] = ("llama-completion", "llama-bench", "llama-tokenize", "llama-perplexity")
#: Bumped when the recipe changes in a way the flags do not show.
RECIPE_VERSION = 2
_LABEL = "building llama.cpp for the phone (one time)"


@frozen(kw_only=True)
class CrossBuild:
    """A finished cross-build: the binaries' folder and what to record about them."""

    bin_dir: Path
    #: Entries for the job's ``describe`` (toolchain, triple, flags, commit).
    info: dict[str, str]

    @property
    def source(self) -> str:
        return (
            f"cross-built from llama-cpp-python {build.LCP_VERSION} source for "
            f"{self.info['target_abi']} ({self.info['target_march']}) with "
            f"{self.info['toolchain']}"
        )


def device_target(device: Device) -> Target:
    """The build target of ``device``, from its ABI and /proc/cpuinfo features."""
    facts = device.facts()
    features = cpu_features("flags: " + facts.extra.get("cpu_features", ""))
    return target_for(facts.abi, features, device=device.name)


def ensure_for_device(device: Device, names: Iterable[str] = TARGETS) -> CrossBuild:
    """The tools of ``names`` for ``device``, cross-built first when not cached."""
    target = device_target(device)  # an unsupported ABI is told before any install
    return ensure_built(target, find_toolchain(), names)


def probe_toolchain(device: Device) -> tuple[ProbeToolchain, Path | None]:
    """The compiler the tools for ``device`` are built with, and the tools' folder here.

    The same zig, target triple and ``-mcpu`` for the core's bandwidth probe,
    static like the tools; the folder (None before the first build) says
    where on the phone the tools, and so the probe, go.
    """
    target = device_target(device)
    zig = find_toolchain()
    built = cached(target, zig, names=())
    toolchain = ProbeToolchain(
        command=zig.cc(target.triple, target.mcpu),
        target=f"{target.triple} -mcpu={target.mcpu}",
        flags=("-static", "-s"),  # stripped, like the tools: fewer bytes to push
        env=zig.env(),
        description=zig.description,
    )
    return toolchain, built.bin_dir if built is not None else None


def flags_for(target: Target) -> tuple[str, ...]:
    """Every cmake option of a cross-build (compilers aside: they are wrappers)."""
    return (
        *build.BASE_FLAGS,
        "-DCMAKE_SYSTEM_NAME=Linux",
        *target.cmake,
        # zig ships no OpenMP runtime; ggml's own thread pool is used instead.
        "-DGGML_OPENMP=OFF",
        # Stripped binaries: a quarter of the bytes to push.
        "-DCMAKE_EXE_LINKER_FLAGS=-s",
    )


def build_key(target: Target, zig: Toolchain) -> str:
    """``<version>-<abi>-<hash>``: the cache entry's name."""
    blob = json.dumps(
        [
            RECIPE_VERSION,
            build.LLAMACPP_COMMIT,
            build._PATCH_TEXT,
            target.triple,
            target.mcpu,
            list(flags_for(target)),
            zig.version,
        ]  # fmt: skip
    ).encode()
    return f"{build.LCP_VERSION}-{target.abi}-{hashlib.sha256(blob).hexdigest()[:12]}"


def cached(target: Target, zig: Toolchain, names: Iterable[str] = TARGETS) -> CrossBuild | None:
    """The cached build for ``target`` when its tools of ``names`` are built and sound."""
    dest = cache_dir("llamacpp-cross") / build_key(target, zig)
    try:
        info = json.loads((dest / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("target_abi") != target.abi:
        return None
    names = worktree.known(names, TARGETS, "the phone build")
    # Each tool's size and digest are checked (a damaged one is removed, saying why).
    if worktree.missing(dest, names):
        return None
    for name in names:
        elf = read_elf(dest / "bin" / name)
        if elf is None or not elf.runs_on(target.abi):
            # Not a program for this phone: removed, so ensure_built makes it again.
            (dest / "bin" / name).unlink(missing_ok=True)
            return None
    return CrossBuild(bin_dir=dest / "bin", info={str(k): str(v) for k, v in info.items()})


def ensure_built(target: Target, zig: Toolchain, names: Iterable[str] = TARGETS) -> CrossBuild:
    """The cross-built tools for ``target``, building first those of ``names`` it lacks."""
    names = worktree.known(names, TARGETS, "the phone build")
    found = cached(target, zig, names)
    if found is not None:
        return found
    root = cache_dir("llamacpp-cross")
    key = build_key(target, zig)
    log = root / f"{key}.build.log"
    dest = root / key
    with file_lock(root / f"{key}.lock", waiting="another bench cross-builds llama.cpp"):
        if cached(target, zig, names) is None:  # another process may have built it meanwhile
            build._check_toolchain()  # cmake and ninja run on the host
            sdist = build.source_archive()
            _build(sdist, target, zig, dest, root / f"{key}.tree", log, names)
    found = cached(target, zig, names)
    if found is None:
        raise SetupError(f"the llama.cpp cross-build in {dest} is incomplete; see {log}")
    return found


def _build(
    sdist: Path, target: Target, zig: Toolchain, dest: Path, tree: Path, log: Path,
    names: tuple[str, ...],
) -> None:  # fmt: skip
    """Build the tools of ``names`` that ``dest`` lacks, in the kept ``tree`` (:mod:`.worktree`)."""
    flags = flags_for(target)
    info = {
        "toolchain": zig.description,
        "target_abi": target.abi,
        "target_triple": target.triple,
        "target_march": target.march,
        "target_mcpu": target.mcpu,
        "target_cpu_features": " ".join(target.features) or "(none used)",
        "build_flags": " ".join(flags),
        "source_commit": build.LLAMACPP_COMMIT,
        "source": f"llama-cpp-python {build.LCP_VERSION} sdist",
    }

    def configure(src: Path, out: Path) -> list[str]:
        # The compiler wrappers live in the tree: cmake's cache names them.
        wrappers = _wrappers(tree / "toolchain", target, zig)
        return [
            "cmake", "-S", str(src), "-B", str(out), "-G", "Ninja", *flags,
            f"-DCMAKE_C_COMPILER={wrappers['cc']}",
            f"-DCMAKE_CXX_COMPILER={wrappers['c++']}",
            f"-DCMAKE_AR={wrappers['ar']}",
            f"-DCMAKE_RANLIB={wrappers['ranlib']}",
        ]  # fmt: skip

    with open(log, "a", encoding="utf-8") as logf:
        logf.write(
            f"# {zig.description} at {zig.path}; target {target.triple} -mcpu={target.mcpu}\n"
        )
    worktree.build_targets(
        entry=dest,
        tree=tree,
        log=log,
        names=names,
        every=TARGETS,
        unpack=lambda into: build._extract_tree(sdist, into),
        configure=configure,
        label=_LABEL,
    )
    # Written after the build: a failed first build leaves no entry behind.
    write_atomic(dest / "build.json", (json.dumps(info, indent=1) + "\n").encode())


def _wrappers(folder: Path, target: Target, zig: Toolchain) -> dict[str, Path]:
    """One-file compilers for cmake: zig with the target baked in.

    cmake wants a single executable per tool; the target and CPU ride along in
    every call (compiler checks included), and zig's cache goes under ours.
    """
    folder.mkdir(parents=True, exist_ok=True)
    zig_cache = cache_dir("zig")
    env = f"ZIG_GLOBAL_CACHE_DIR={shlex.quote(str(zig_cache))} ZIG_LOCAL_CACHE_DIR={shlex.quote(str(zig_cache))}"
    compile_args = f"-target {target.triple} -mcpu={shlex.quote(target.mcpu)}"
    bodies = {
        "cc": f'{env} exec {shlex.quote(str(zig.path))} cc {compile_args} "$@"',
        "c++": f'{env} exec {shlex.quote(str(zig.path))} c++ {compile_args} "$@"',
        "ar": f'exec {shlex.quote(str(zig.path))} ar "$@"',
        "ranlib": f'exec {shlex.quote(str(zig.path))} ranlib "$@"',
    }
    paths = {}
    for name, body in bodies.items():
        path = folder / name
        path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
        path.chmod(0o755)
        paths[name] = path
    return paths


# -- the toolchain -------------------------------------------------------------------


def find_toolchain() -> Toolchain:
    """zig, shared with the core's bandwidth probe (:mod:`pocketbench.plugin` ``find_zig``)."""
    return find_zig(otherwise="pass --llamacpp-bin DIR with an Android build of llama.cpp")
