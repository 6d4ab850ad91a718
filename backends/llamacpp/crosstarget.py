"""What to build llama.cpp for, read from the phone itself.

The ABI comes from ``ro.product.cpu.abi``; the CPU features from the
``Features`` (arm64) or ``flags`` (x86) line of the phone's ``/proc/cpuinfo``.
Only features that change ggml's kernels are used, so two phones that differ
in features nobody uses share one cached build.

Binaries are static Linux executables (musl): Android runs them like its
own, with no NDK and no shared library to push.
"""

from __future__ import annotations

from attrs import frozen

from pocketbench.plugin import SetupError

#: The ABIs a cross-build exists for: phones, and emulators / Chromebooks.
SUPPORTED_ABIS = ("arm64-v8a", "x86_64")

#: arm64 ``/proc/cpuinfo`` feature -> (zig/LLVM feature, ``-march`` extension).
#: asimddp: the int8 dot product of the Q4_0/Q8_0 kernels; asimdhp: fp16
#: vector arithmetic; i8mm: the int8 matrix multiply of the repacked kernels.
#: SVE is left out: phone kernels rarely expose it and ggml's NEON paths are
#: the ones tuned for phone cores.
_ARM_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("asimddp", "dotprod", "dotprod"),
    ("asimdhp", "fullfp16", "fp16"),
    ("i8mm", "i8mm", "i8mm"),
)

#: x86 ``flags`` -> (zig/LLVM feature, ggml cmake option); AVX-512 and AMX stay
#: off, as in the host build (build.py says why).
_X86_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("avx", "avx", "GGML_AVX"),
    ("avx2", "avx2", "GGML_AVX2"),
    ("fma", "fma", "GGML_FMA"),
    ("f16c", "f16c", "GGML_F16C"),
    ("bmi2", "bmi2", "GGML_BMI2"),
)


@frozen(kw_only=True)
class Target:
    """One phone's build target: what is compiled, and how it is recorded."""

    abi: str
    #: zig's target triple (static musl executables).
    triple: str
    #: zig's ``-mcpu`` (LLVM CPU model plus features).
    mcpu: str
    #: The same choice spelled as gcc/clang ``-march``, for the record.
    march: str
    #: The cpuinfo features that chose it (sorted), part of the cache key.
    features: tuple[str, ...]
    #: Extra cmake options for this target.
    cmake: tuple[str, ...]


def cpu_features(cpuinfo: str) -> frozenset[str]:
    """The words of the first ``Features``/``flags`` line of /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("features", "flags"):
            return frozenset(value.split())
    return frozenset()


def target_for(abi: str, features: frozenset[str], *, device: str) -> Target:
    """The build target of a phone, or one line saying its ABI has none."""
    abi = abi.strip()
    if abi == "arm64-v8a":
        used = [(f, z, m) for f, z, m in _ARM_FEATURES if f in features]
        tags = [m for _, _, m in used]
        # dotprod and fp16 arrived with Armv8.2-A; i8mm is accepted on top of it.
        base = "armv8.2-a" if tags else "armv8-a"
        return Target(
            abi=abi,
            triple="aarch64-linux-musl",
            mcpu="+".join(["generic", *(z for _, z, _ in used)]),
            march="+".join([base, *tags]),
            features=tuple(sorted(f for f, _, _ in used)),
            cmake=("-DCMAKE_SYSTEM_PROCESSOR=aarch64",),
        )
    if abi == "x86_64":
        used = [(f, z, o) for f, z, o in _X86_FEATURES if f in features]
        have = {o for _, _, o in used}
        return Target(
            abi=abi,
            triple="x86_64-linux-musl",
            mcpu="+".join(["x86_64", *(z for _, z, _ in used)]),
            march="+".join(["x86-64", *(z for _, z, _ in used)]),
            features=tuple(sorted(f for f, _, _ in used)),
            cmake=(
                "-DCMAKE_SYSTEM_PROCESSOR=x86_64",
                *(f"-D{o}={'ON' if o in have else 'OFF'}" for _, _, o in _X86_FEATURES),
            ),
        )
    shown = abi or "an unknown ABI (ro.product.cpu.abi is empty)"
    raise SetupError(
        f"{device} is {shown}; pocketbench builds llama.cpp for {' and '.join(SUPPORTED_ABIS)} "
        "only: pass --llamacpp-bin DIR with your own build for it"
    )
