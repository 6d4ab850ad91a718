"""A job's memory-bandwidth figures: bytes per decode step, and the device's bandwidth.

Called by the runner once per job, after ``prepare`` and before the first
warm-up.  The bytes come from the backend (hook ``pocketbench_decode_bytes``);
the device's bandwidth comes from the probe (:mod:`pocketbench.core.devices.probe`)
run with the job's threads on the job's cores (``--cores``), built by the
backend's toolchain when it names one (hook ``pocketbench_probe_toolchain``),
and is cached per device and placement (threads and cores) in
``<cache>/bandwidth`` so that a campaign measures a device once.  Nothing
here can stop a job: every problem is one note (echoed, and stored with the
job), and the speed results are measured and reported as usual.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import threading
import time
from collections.abc import Callable
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
from pocketbench.core.api.errors import DeviceError, PocketbenchError, SetupError
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
CACHE_FORMAT = 1
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
    ) -> DeviceBandwidth | None:
        """The cached figure of this device and placement, else a new measurement.

        :param cores: the cores the job's runtime is pinned to (``--cores``);
            the probe's threads are pinned to them too, and they are part of
            the cache key.  Empty: not pinned.
        :param placement: how the cores were asked for, kept with the figure.
        :param toolchain: the backend's compiler for the probe (asked only
            when the probe is built); None or a None answer: the core's own.
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
            if not self.remeasure or fresh:
                cached, problem = _read_cache(path, limit, how)
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
            data = {
                "format": CACHE_FORMAT,
                "device": device.name,
                "measurement": unstructure(measured),
            }
            write_atomic(path, (json.dumps(data, indent=1) + "\n").encode())
            with self._lock:
                self._fresh.add(key)
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
        toolchain = None
        if backend_toolchain is not None:
            try:
                toolchain = backend_toolchain()
            except PocketbenchError:
                raise
            except Exception as exc:  # a plugin's bug costs MBU, never the speed results
                raise SetupError(
                    f"the backend failed to say how to build the bandwidth probe"
                    f" ({type(exc).__name__}: {exc})"
                ) from exc
        if toolchain is None:
            toolchain = probe.toolchain_for(facts.abi, local=device.is_local)
        binary = probe.build(toolchain)
        where = f" on {placement_text(tuple(sorted(set(cores))), placement)}" if cores else ""
        self.echo(
            f"measuring the memory bandwidth of {device.name} ({threads_text(threads)}{where},"
            f" {self.buffer_mib} MiB arrays; cached afterwards)"
        )
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
        )


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
