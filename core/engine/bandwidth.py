"""A job's memory-bandwidth figures: bytes per decode step, and the device's bandwidth.

Called by the runner once per job, after ``prepare`` and before the first
warm-up.  The bytes come from the backend (hook ``pocketbench_decode_bytes``);
the device's bandwidth comes from the probe (:mod:`pocketbench.core.devices.probe`)
run with the job's threads on the job's cores (``--cores``), built by the
backend's toolchain when it names one (hook ``pocketbench_probe_toolchain``),
and is cached per device and placement (threads and cores) in
``<cache>/bandwidth`` so that a campaign measures a device once.

A figure judges runs only when it is fit to: the probe runs under the same
busy-device check as the runs (load average above the cores) and also says
how much CPU other processes took while it ran; a cached figure is not used
(the probe runs again) when it was taken on a busy device, before this
campaign or study began, or when a run read faster than it
(:meth:`BandwidthPolicy.after_runs`).  Nothing here can stop a job: every
problem is one note (echoed, and stored with the job), and the speed results
are measured and reported as usual.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy
from attrs import define, field

from pocketbench.core.api.bandwidth import (
    DecodeBytes,
    DeviceBandwidth,
    JobBandwidth,
    ProbeToolchain,
    placement_text,
    threads_text,
)
from pocketbench.core.api.errors import DeviceError, PocketbenchError
from pocketbench.core.api.model import DeviceFacts, Job, Prepared
from pocketbench.core.devices import probe
from pocketbench.core.devices.base import Device
from pocketbench.core.kit.cache import cache_dir, file_lock, write_atomic
from pocketbench.core.kit.convert import converter, unstructure
from pocketbench.core.kit.status import Echo, say

#: Bytes of each probe array (all threads together): several times any phone's
#: last-level cache, and about 4x this host's 32 MiB L3.
DEFAULT_MIB = 128
#: A smaller buffer for quick checks (the test suite sets it); cached apart.
MIB_ENV = "POCKETBENCH_PROBE_MIB"
TRIALS = 10
#: Version of the cache files; older ones are measured again.
CACHE_FORMAT = 2
#: Other processes using more CPU than this (cores) while the probe ran made it busy:
#: a memory-streaming neighbour uses a whole core; the system's own daemons a few percent.
BUSY_OTHERS_CORES = 0.25
#: Below this a figure is no memory bandwidth (a broken timer, a stalled device).
MIN_GBPS = 0.05
#: The most bytes one core loads per cycle on any CPU a phone or laptop has
#: (two 64-byte vector loads); the theoretical limit is cores x GHz x this.
LOAD_BYTES_PER_CYCLE = 128
#: When a device does not say its clock: no core runs faster than this.
UNKNOWN_GHZ = 6.0


def default_mib() -> int:
    raw = os.environ.get(MIB_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MIB


def limit_gbps(
    facts: DeviceFacts | None, threads: int, pinned: tuple[int, ...] = ()
) -> tuple[float, str]:
    """The CPUs' theoretical load bandwidth for ``threads`` threads, and how it was computed.

    Threads pinned to ``pinned`` cores use at most those cores, at their clock.
    """
    cores = facts.cores if facts is not None and facts.cores else threads
    n = min(threads, len(set(pinned)) if pinned else cores)
    freqs = facts.max_freqs_khz if facts is not None else ()
    if pinned and freqs and all(0 <= c < len(freqs) for c in pinned):
        freqs = tuple(freqs[c] for c in pinned)
    ghz = max(freqs) / 1e6 if freqs else UNKNOWN_GHZ
    clock = f"{ghz:.2f} GHz" if freqs else f"{ghz:.0f} GHz (clock unknown)"
    return n * ghz * LOAD_BYTES_PER_CYCLE, f"{n} cores x {clock} x {LOAD_BYTES_PER_CYCLE} B/cycle"


def implausible(m: DeviceBandwidth, how: str = "") -> str | None:
    """Why a measurement cannot be a memory bandwidth, or None when it can."""
    for kernel in probe.KERNELS:
        values = m.samples_gbps.get(kernel, ())
        if not values:
            return f"it has no {kernel} figures"
        if not all(math.isfinite(v) for v in values):
            return f"a {kernel} trial is not a number"
        median = statistics.median(values)
        if median < MIN_GBPS:
            return f"{kernel} bandwidth {median:.3g} GB/s is implausible (zero or below {MIN_GBPS} GB/s)"
        top = max(values)
        if top > m.limit_gbps:
            why = f" ({how})" if how else ""
            return (
                f"{kernel} bandwidth {top:.0f} GB/s is above the CPU's theoretical limit of"
                f" {m.limit_gbps:.0f} GB/s{why}"
            )
    return None


@define(kw_only=True)
class BandwidthPolicy:
    """How jobs get their bandwidth figures (``bench run --no-bandwidth``, ``--remeasure-bandwidth``).

    :param probe: run (or reuse) the probe; False keeps bytes per token only.
    :param remeasure: measure each device and placement again, once per process.
    :param buffer_mib: bytes of one probe array, MiB (``$POCKETBENCH_PROBE_MIB``).
    :param cache: where figures are cached (default ``<cache>/bandwidth``).
    :param echo: prints the notes and the "measuring" line.
    """

    probe: bool = True
    remeasure: bool = False
    buffer_mib: int = field(factory=default_mib)
    trials: int = TRIALS
    cache: Path | None = None
    echo: Echo = say
    #: Cached figures taken before this moment are measured again (default: when the
    #: campaign or study began, i.e. when this policy was made).
    not_before: float = field(factory=time.time)
    #: A probe during which other processes used more cores than this was busy.
    busy_others_cores: float = BUSY_OTHERS_CORES
    #: ... and so was one that began with a load average above this many per core.
    busy_load_per_core: float = 1.0
    _fresh: set[str] = field(factory=set, init=False)
    _lock: threading.Lock = field(factory=threading.Lock, init=False)

    def for_job(
        self, pm: pluggy.PluginManager, job: Job, device: Device, prepared: Prepared
    ) -> JobBandwidth:
        """Bytes per decode step and the device's bandwidth; problems become notes."""
        notes: list[str] = []
        decode = _decode_bytes(pm, job, prepared, notes)
        w = job.workload
        measured = (
            self.device_bandwidth(
                device,
                w.threads,
                notes,
                cores=tuple(w.cores),
                placement=w.placement,
                toolchain=lambda: pm.hook.pocketbench_probe_toolchain(job=job, device=device),
            )
            if self.probe
            else None
        )
        for note in notes:
            self.echo(f"note: {note}")
        return JobBandwidth(decode=decode, device=measured, notes=tuple(notes))

    def device_bandwidth(
        self,
        device: Device,
        threads: int,
        notes: list[str],
        *,
        cores: tuple[int, ...] = (),
        placement: str = "",
        toolchain: Callable[[], ProbeToolchain | None] | None = None,
        force: bool = False,
        reason: str = "",
    ) -> DeviceBandwidth | None:
        """The cached figure of this device and placement, else a new measurement.

        :param cores: the cores the job's runtime is pinned to (``--cores``);
            the probe's threads are pinned to them too, and they are part of
            the cache key.  Empty: not pinned.
        :param placement: how the cores were asked for, kept with the figure.
        :param toolchain: the backend's compiler for the probe (asked only
            when the probe is built); None or a None answer: the core's own.
        :param force: measure again whatever the cache holds.
        :param reason: why it is measured again, kept with the figure.
        """
        facts = device.facts()
        key = self._key(device, facts, threads, cores)
        folder = self.cache or cache_dir("bandwidth")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key}.json"
        limit, how = limit_gbps(facts, threads, cores)
        with file_lock(folder / f".{key}.lock"):
            with self._lock:
                fresh = key in self._fresh
            if (not self.remeasure or fresh) and not force:
                cached, problem = _read_cache(path, limit, how)
                if cached is not None and cached.busy:
                    cached, problem = None, f"was taken on a busy device ({cached.busy})"
                if cached is not None and cached.measured_at < self.not_before:
                    cached, problem = None, "was taken before this campaign or study began"
                if cached is not None:
                    # The same cores, perhaps asked for another way ("big" or "6-7").
                    return attrs.evolve(cached, placement=placement) if cores else cached
                if problem:
                    notes.append(
                        f"the cached bandwidth of {device.name} ({threads_text(threads)}) {problem};"
                        " measured again"
                    )
            try:
                measured = self._measure(device, facts, threads, limit, cores, placement, toolchain)
            except DeviceError:
                raise
            except PocketbenchError as exc:
                notes.append(f"{exc}; MBU is not reported for this job, speeds are")
                return None
            problem = implausible(measured, how)
            if problem:
                notes.append(
                    f"the bandwidth probe on {device.name} was refused: {problem}; MBU is not"
                    " reported (run again with --remeasure-bandwidth on a quiet device)"
                )
                return None
            if reason:
                measured = attrs.evolve(measured, reason=reason)
            data = {
                "format": CACHE_FORMAT,
                "device": device.name,
                "measurement": unstructure(measured),
            }
            write_atomic(path, (json.dumps(data, indent=1) + "\n").encode())
            with self._lock:
                self._fresh.add(key)
            if measured.busy:
                notes.append(
                    f"the bandwidth of {device.name} ({threads_text(threads)}) was probed on a busy"
                    f" device ({measured.busy}): it may be low; it serves this job only"
                )
            return measured

    def _key(self, device: Device, facts: DeviceFacts, threads: int, cores: tuple[int, ...]) -> str:
        # A phone is its serial number (the adb name can change with the port);
        # the rest guards against a serial reused by another model.  The
        # placement is threads and the mask of cores (none: "c-").
        who = facts.extra.get("serialno") or device.name
        mask = f"c{sum(1 << c for c in set(cores)):x}" if cores else "c-"
        parts = [facts.kind, who, facts.model, facts.soc, facts.abi, str(facts.cores),
                 str(facts.ram_bytes), f"t{threads}", mask, f"m{self.buffer_mib}",
                 hashlib.sha256(probe.source()).hexdigest()[:12]]  # fmt: skip
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]

    def _measure(
        self,
        device: Device,
        facts: DeviceFacts,
        threads: int,
        limit: float,
        cores: tuple[int, ...],
        placement: str,
        backend_toolchain: Callable[[], ProbeToolchain | None] | None,
    ) -> DeviceBandwidth:
        toolchain = probe.device_toolchain(device, backend_toolchain, "the bandwidth probe")
        binary = probe.build(toolchain)
        where = f" on {placement_text(tuple(sorted(set(cores))), placement)}" if cores else ""
        self.echo(
            f"measuring the memory bandwidth of {device.name} ({threads_text(threads)}{where},"
            f" {self.buffer_mib} MiB arrays; cached afterwards)"
        )
        # The runs' own busy check: the load average just before.
        load = device.readings().load_avg
        start = time.perf_counter()
        out = probe.run(
            device, binary, threads=threads, cpus=tuple(sorted(set(cores))),
            buffer_mib=self.buffer_mib, trials=self.trials, device_dir=toolchain.device_dir,
        )  # fmt: skip
        return DeviceBandwidth(
            threads=out.threads,
            cpus=out.cpus,
            placement=placement,
            buffer_bytes=out.buffer_bytes,
            samples_gbps=out.samples_gbps,
            limit_gbps=limit,
            toolchain=_toolchain_text(toolchain),
            measured_at=time.time(),
            run_s=time.perf_counter() - start,
            clean=out.clean,
            vector=out.vector,
            llc_bytes=out.llc_bytes,
            load_avg=load,
            others_cores=out.others_cores,
            steal_cores=out.steal_cores,
            busy=busy_reason(
                load, facts.cores, out.others_cores, out.steal_cores, out.clean.get("read", ()),
                max_others=self.busy_others_cores, max_load_per_core=self.busy_load_per_core,
            ),
        )  # fmt: skip

    def after_runs(
        self,
        pm: pluggy.PluginManager,
        job: Job,
        device: Device,
        stored: JobBandwidth,
        generation_tps: Sequence[float],
    ) -> DeviceBandwidth | None:
        """A new probe when a run of ``job`` read faster than every figure it has, else None.

        A run cannot read memory faster than the memory gives, so a figure
        below a run's own was taken in a worse minute (or was busy): the probe
        runs again at once, in the minute the runs found, and the new figure
        is kept with the job (and cached) beside the first.
        """
        decode, probes = stored.decode, stored.probes
        if decode is None or not probes or not generation_tps:
            return None
        from pocketbench.core.results.bandwidth import CACHE_FACTOR, GB, mean_context

        per_token = decode.per_token(mean_context(job.workload))
        if per_token <= CACHE_FACTOR * probes[0].llc_bytes:
            return None  # served by the cache: no probe of memory says anything about it
        achieved = per_token * max(generation_tps) / GB
        best = max(statistics.fmean(p.figure_samples) for p in probes)
        if achieved <= best:
            return None
        first = probes[0]
        notes: list[str] = []
        w = job.workload
        newer = self.device_bandwidth(
            device, w.threads, notes, cores=tuple(w.cores), placement=w.placement,
            toolchain=lambda: pm.hook.pocketbench_probe_toolchain(job=job, device=device),
            force=True,
            reason=f"a run read {achieved:.1f} GB/s, more than the figure of {best:.1f} GB/s",
        )  # fmt: skip
        for note in notes:
            self.echo(f"note: {note}")
        return newer if newer is not None and newer is not first else None


def busy_reason(
    load: float | None,
    cores: int,
    others: float | None,
    steal: float | None,
    clean_read: Sequence[bool],
    *,
    max_others: float = BUSY_OTHERS_CORES,
    max_load_per_core: float = 1.0,
) -> str:
    """Why a probe's device was busy, as a reader says it; "" when it was quiet."""
    why = []
    if load is not None and cores > 0 and load > cores * max_load_per_core:
        why.append(f"load average {load:.1f} on {cores} cores")
    if others is not None and others > max_others:
        why.append(f"other processes used {others:.2f} cores while it ran")
    if steal is not None and steal > max_others:
        why.append(f"the hypervisor took {steal:.2f} cores")
    if clean_read and not any(clean_read) and math.isfinite(max_others):
        why.append("a thread was descheduled in every read trial")
    return "; ".join(why)


def _toolchain_text(t: ProbeToolchain) -> str:
    """The command and target, and the toolchain's version when it says one."""
    about = f"; {t.description}" if t.description and t.description not in t.text else ""
    return f"{t.text} ({t.target}{about})"


def _decode_bytes(
    pm: pluggy.PluginManager, job: Job, prepared: Prepared, notes: list[str]
) -> DecodeBytes | None:
    try:
        decode = pm.hook.pocketbench_decode_bytes(job=job, prepared=prepared)
    except PocketbenchError as exc:
        notes.append(f"{exc}; MBU is not reported for this job, speeds are")
        return None
    except Exception as exc:  # a plugin's bug must not cost the speed results
        notes.append(
            f"the {job.backend} backend failed to count the bytes a decode step reads"
            f" ({type(exc).__name__}: {exc}); MBU is not reported for this job"
        )
        return None
    if decode is None:
        notes.append(
            f"the {job.backend} backend does not say how many bytes a decode step reads"
            " (hook pocketbench_decode_bytes); MBU is not reported for it"
        )
    elif decode.weights_bytes <= 0 or decode.kv_bytes_per_position < 0:
        notes.append(
            f"the {job.backend} backend counted {decode.weights_bytes} weight bytes per decode"
            " step, which cannot be; MBU is not reported for this job"
        )
        return None
    return decode


def _read_cache(path: Path, limit: float, how: str) -> tuple[DeviceBandwidth | None, str]:
    """(the cached figure, "") when it is whole and plausible, else (None, why not)."""
    try:
        data: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return None, ""
    except (OSError, ValueError):
        return None, "was unreadable"
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return None, "was of another format"
    try:
        m = converter().structure(data.get("measurement"), DeviceBandwidth)
    except Exception as exc:  # cattrs raises several kinds; all mean "not ours"
        return None, f"was malformed ({_why(exc)[:120]})"
    # The limit is today's, not the cached one: a file edited to say otherwise is caught.
    m = attrs.evolve(m, limit_gbps=limit, cached=True)
    problem = implausible(m, how)
    return (None, f"was implausible: {problem}") if problem else (m, "")


def _why(exc: Exception) -> str:
    import cattrs

    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)
