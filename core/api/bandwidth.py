"""What memory-bandwidth utilisation is computed from: bytes per token and a device's bandwidth.

Generating one token reads every weight the decode step uses once, plus the
KV cache up to the current position; on a phone that is what bounds decode
speed.  A backend knows its model file, so it says how many bytes a decode
step reads (:class:`DecodeBytes`, from the hook ``pocketbench_decode_bytes``);
the core measures the device's bandwidth with its probe
(:class:`DeviceBandwidth`) and stores both with the job (:class:`JobBandwidth`).
The statistics (MBU, its interval, the ceiling) are computed when a report
is built (:mod:`pocketbench.core.results.bandwidth`).
"""

from __future__ import annotations

from attrs import field, frozen


def placement_text(cpus: tuple[int, ...], placement: str = "") -> str:
    """``big (cores 6-7, mask c0)``, ``cores 0-3 (mask f)`` or ``not pinned``."""
    from pocketbench.core.api.placement import format_list, mask

    if not cpus:
        return "not pinned"
    which = f"{'core' if len(cpus) == 1 else 'cores'} {format_list(cpus)}"
    if placement and not placement[0].isdigit():
        return f"{placement} ({which}, mask {mask(cpus)})"
    return f"{which} (mask {mask(cpus)})"


def threads_text(n: int) -> str:
    return f"{n} thread{'' if n == 1 else 's'}"


@frozen(kw_only=True)
class DecodeBytes:
    """Bytes one decode step reads, from the model file itself.

    ``weights_bytes`` counts every tensor a decode step reads in full.  A
    token-embedding table is a lookup (one row per token), so it is left out
    unless it doubles as the output projection (tied embeddings), in which
    case it is counted once, as the projection.  ``kv_bytes_per_position``
    is the KV cache one position of context occupies over all layers (keys
    and values); a step at context length ``n`` reads ``n`` of them.
    """

    weights_bytes: int
    kv_bytes_per_position: int
    #: How the figure was read, e.g. "GGUF tensor table: 30 Q4_1, 61 F32; KV F16".
    source: str
    #: Bytes of the embedding table left out (0 when tied or absent).
    embedding_bytes: int = 0

    def per_token(self, context_tokens: float) -> float:
        """Bytes read to generate one token at a context of ``context_tokens`` positions."""
        return self.weights_bytes + self.kv_bytes_per_position * context_tokens


@frozen(kw_only=True)
class DeviceBandwidth:
    """One measurement of a device's memory bandwidth by the probe (GB/s = 10^9 B/s)."""

    #: Threads and the CPUs they were pinned to (empty: the scheduler chose): the placement.
    threads: int
    cpus: tuple[int, ...] = ()
    #: How the cores were asked for (``--cores big``, ``4-7``; empty: not pinned).
    placement: str = ""
    #: Bytes of one probe array over all threads (several times the last-level cache).
    buffer_bytes: int
    #: Per-trial figures of each kernel ("read", "copy", "triad"), in GB/s.
    samples_gbps: dict[str, tuple[float, ...]] = field(factory=dict)
    #: The CPUs' theoretical limit the figures were checked against, GB/s.
    limit_gbps: float = 0.0
    #: The compiler command and target the probe was built with.
    toolchain: str = ""
    measured_at: float = 0.0
    #: Wall-clock seconds the probe ran (push and build excluded).
    run_s: float = 0.0
    #: True when this figure came from the cache instead of a new run.
    cached: bool = False
    #: Per trial of each kernel: False when a thread was descheduled during it.
    clean: dict[str, tuple[bool, ...]] = field(factory=dict)
    #: The read kernel's vector loads, e.g. "avx512 512" (name, bits); "" before format 2.
    vector: str = ""
    #: The device's last-level cache, bytes (0: it does not say).
    llc_bytes: int = 0
    #: The device's load average just before the probe (None: unknown).
    load_avg: float | None = None
    #: CPU (in cores) other processes, and the hypervisor, used while the probe ran.
    others_cores: float | None = None
    steal_cores: float | None = None
    #: Why the device was busy while the probe ran ("" when it was quiet).
    busy: str = ""
    #: Why this figure was taken: "" (the job's first), "a run read faster", "study end".
    reason: str = ""

    @property
    def where(self) -> str:
        """The placement as a report says it: ``big (cores 6-7, mask c0)`` or ``not pinned``."""
        return placement_text(self.cpus, self.placement)

    @property
    def read(self) -> tuple[float, ...]:
        """Decode streams weights: the read kernel is the one MBU is measured against."""
        return self.samples_gbps.get("read", ())

    @property
    def figure_samples(self) -> tuple[float, ...]:
        """The read trials the device's figure is made of: the best half of the clean ones.

        A neighbour or a descheduled thread only ever slows a trial, so the slow
        tail says how busy the device was, not what its memory gives: the
        figure is the best sustained trials (each lasts >= 50 ms), and their
        spread is its interval.  Without clean trials, the best half of all.
        """
        flags = self.clean.get("read", ())
        values = [v for v, ok in zip(self.read, flags, strict=False) if ok] if flags else []
        values = sorted(values or self.read, reverse=True)
        return tuple(values[: max(1, (len(values) + 1) // 2)])


@frozen(kw_only=True)
class ProbeToolchain:
    """How the bandwidth probe is built for a device, and where it goes on it.

    The core's own choice is the host compiler for this host and zig for a
    phone; a backend that cross-builds its runtime hands the same compiler
    (target and CPU flags included) and its runtime's device folder through
    ``pocketbench_probe_toolchain``, so the probe is built like the runtime
    and pushed beside it.
    """

    #: The compiler command before the sources, e.g. ("cc",) or (zig, "cc", "-target", ...).
    command: tuple[str, ...]
    #: What the binary runs on: "host", or a target triple.
    target: str
    #: Flags after the sources (``-static`` for a phone: its libc is not ours).
    flags: tuple[str, ...] = ()
    #: Environment of the compiler (zig's cache folders).
    env: dict[str, str] = field(factory=dict)
    #: The toolchain as a person reads it, e.g. "zig 0.17.1 (ziglang from PyPI)".
    description: str = ""
    #: Device folder (under its working directory) to push the probe to; "" for the core's own.
    device_dir: str = ""

    @property
    def text(self) -> str:
        """The command line a user can run again (what is stored with the figure)."""
        import shlex

        return shlex.join([*self.command, *self.flags])


@frozen(kw_only=True)
class JobBandwidth:
    """What a job stores for its memory-bandwidth figures; each half may be missing.

    ``notes`` say, one line each, why a half is missing (a probe that cannot
    run, a model whose size cannot be read, an implausible figure) or that a
    cached figure was refused and measured again.
    """

    decode: DecodeBytes | None = None
    device: DeviceBandwidth | None = None
    notes: tuple[str, ...] = ()
    #: Probes of the same placement taken after the job started: when a run read
    #: faster than ``device``, and at the study's end.
    later: tuple[DeviceBandwidth, ...] = ()

    @property
    def probes(self) -> tuple[DeviceBandwidth, ...]:
        return ((self.device,) if self.device is not None else ()) + self.later
