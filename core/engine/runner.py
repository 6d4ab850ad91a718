"""Running jobs: prepare, warm up, measure, store each run as it ends.

The flow goes one way: a :class:`Job` and a device go in, records go to the
store the moment each execution ends, and a :class:`JobOutcome` comes out.
Re-running the same campaign resumes: runs already stored for a
configuration are never measured again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, frozen

from pocketbench.core.api.errors import DeviceError, PocketbenchError, SetupError, StoreError
from pocketbench.core.api.model import Job, RunRecord
from pocketbench.core.devices.base import Device
from pocketbench.core.engine import signals
from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.core.engine.lease import Leases
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.kit.status import say
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store

if TYPE_CHECKING:
    import pluggy

    from pocketbench.core.api.bandwidth import JobBandwidth
    from pocketbench.core.engine.quality import QualityPlan


@frozen(kw_only=True)
class JobOutcome:
    """What happened to one job."""

    job: Job
    records: tuple[RunRecord, ...] = ()
    #: Measured runs found already stored (resumed campaigns).
    already_stored: int = 0
    #: A failure that stopped the job (setup, device); None when it ran through.
    error: str | None = None
    exit_code: int = 0

    @classmethod
    def failed(cls, job: Job, exc: PocketbenchError) -> JobOutcome:
        """A job stopped by an expected failure: its one line and exit code."""
        return cls(job=job, error=str(exc), exit_code=int(exc.exit_code))

    @property
    def measured(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.records if not r.warmup)

    @property
    def failed_runs(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.measured if not r.ok)


#: Decides after each measured run whether enough runs were made (adaptive sampling).
StopRule = Callable[[Sequence[RunRecord]], bool]


def ci_stop_rule(target_pct: float) -> StopRule:
    """``--target-ci``: stop once generation speed's 95% CI is within ``target_pct``% of its mean."""
    from pocketbench.core.results.stats import ci_within

    def rule(records: Sequence[RunRecord]) -> bool:
        return ci_within([r.metrics.generation_tps for r in records if r.metrics], target_pct)

    return rule


@define(kw_only=True)
class Runner:
    """Runs jobs against one store and campaign, with the given wrapper plugins."""

    registry: Registry
    store: Store
    campaign: str
    #: Plugin objects added to every job's manager (progress, hygiene, ...).
    wrappers: Sequence[Any] = ()
    #: Stop a configuration early when this says so (``--target-ci``).
    stop_rule: StopRule | None = None
    #: Upper bound of measured runs when ``stop_rule`` is set (``--max-runs``).
    max_runs: int | None = None
    #: Measure quality after the runs (``--quality``); None: speed only.
    quality: QualityPlan | None = None
    #: Device leases and configuration claims (default: waiting, lines to stderr).
    leases: Leases | None = None
    #: Wait for a device or configuration another process measures (False: ``--no-wait``).
    wait: bool = True
    #: The command line, shown to a process waiting for ours.
    command: str = ""
    #: Bytes per token and the device's bandwidth, stored with each job; None: neither.
    bandwidth: BandwidthPolicy | None = None
    _store_lock: threading.Lock = attrs.field(factory=threading.Lock)
    #: Each probed placement (device, threads, cores): a job of it and the jobs it judged.
    _probed: dict[tuple[str, int, tuple[int, ...]], tuple[Device, Job, list[int]]] = attrs.field(
        factory=dict
    )

    def run(self, job: Job, device: Device) -> JobOutcome:
        """Prepare, warm up and measure ``job`` (planned: its scheme name is canonical).

        The device is leased and the configuration claimed first (see
        :mod:`~pocketbench.core.engine.lease`), so no other process measures
        either meanwhile; runs stored by then are not measured again.
        """
        done = self._done(job)
        if done >= job.runs and self.stop_rule is None:
            return JobOutcome(job=job, already_stored=done)
        leases = self._leases()
        label = f"{job.backend} {job.quant} {job.model} on {job.device}"
        with leases.device(device), leases.configuration(self.campaign, job.config_key(), label):
            return self._run_claimed(job, device)

    def _recheck_bandwidth(
        self,
        pm: pluggy.PluginManager,
        job: Job,
        device: Device,
        job_id: int,
        bandwidth: JobBandwidth | None,
        records: list[RunRecord],
    ) -> None:
        """Probe again, and keep the figure with the job, when a run read faster than it."""
        if self.bandwidth is None or bandwidth is None:
            return
        rates = [r.metrics.generation_tps for r in records if r.ok and not r.warmup and r.metrics]
        newer = self.bandwidth.after_runs(pm, job, device, bandwidth, rates)
        if newer is not None:
            with signals.critical(), self._store_lock:
                self.store.add_probes([job_id], newer)

    def probe_at_end(self) -> None:
        """Probe every placement this runner's jobs were judged against once more.

        A study's runs may span an hour in which the device's bandwidth moved:
        the figure from its end is kept with every job beside the one from its
        start, and reports show both.
        """
        if self.bandwidth is None:
            return
        for (_, threads, cores), (device, job, job_ids) in list(self._probed.items()):
            pm = self.registry.backend_manager(job.backend, extra=self.wrappers)
            notes: list[str] = []
            with self._leases().device(device):
                newer = self.bandwidth.device_bandwidth(
                    device, threads, notes, cores=cores, placement=job.workload.placement,
                    toolchain=lambda pm=pm, job=job, device=device: (
                        pm.hook.pocketbench_probe_toolchain(job=job, device=device)
                    ),
                    force=True, reason="the study's end",
                )  # fmt: skip
            for note in notes:
                self.bandwidth.echo(f"note: {note}")
            if newer is not None:
                with self._store_lock:
                    self.store.add_probes(job_ids, newer)

    def _leases(self) -> Leases:
        if self.leases is None:
            self.leases = Leases(
                store=self.store,
                echo=say,
                wait=self.wait,
                command=self.command,
                store_lock=self._store_lock,
            )
        return self.leases

    def _done(self, job: Job) -> int:
        with self._store_lock:
            done, _ = self.store.completed_runs(self.campaign, job.config_key())
        return done

    def _run_claimed(self, job: Job, device: Device) -> JobOutcome:
        done = self._done(job)
        limit = self.max_runs if self.stop_rule is not None and self.max_runs else job.runs
        with self._store_lock:
            want_quality = self.quality is not None and not self.store.has_quality(
                self.campaign, job.config_key()
            )
        if done >= job.runs and self.stop_rule is None and not want_quality:
            return JobOutcome(job=job, already_stored=done)
        with self._store_lock:
            first = self.store.next_index(self.campaign, job.config_key())
        pm = self.registry.backend_manager(job.backend, extra=self.wrappers)
        facts = device.facts()
        # Setup errors propagate before anything is written for this job.
        try:
            prepared = pm.hook.pocketbench_prepare(job=job, device=device)
        except PocketbenchError:
            raise
        except Exception as exc:  # a plugin's bug: one line, the traceback is not for users
            raise SetupError(
                f"the {job.backend} backend failed while preparing: {type(exc).__name__}: {exc}"
            ) from exc
        if prepared is None:
            raise PocketbenchError(f"backend {job.backend!r} prepared nothing (no prepare hook)")
        # Before the first warm-up, so the probe never runs beside a measured run.
        bandwidth = (
            self.bandwidth.for_job(pm, job, device, prepared)
            if self.bandwidth is not None
            else None
        )
        with signals.critical(), self._store_lock:
            job_id = self.store.start_job(
                job, facts, prepared.describe, self._leases().holder, bandwidth=bandwidth
            )
        if bandwidth is not None and bandwidth.device is not None:
            place = (device.name, job.workload.threads, tuple(sorted(set(job.workload.cores))))
            with self._store_lock:
                self._probed.setdefault(place, (device, job, []))[2].append(job_id)
        records: list[RunRecord] = []
        # Adaptive stopping judges every successful run of the configuration:
        # those stored before a resume, read once, and the ones measured here.
        ok_runs = self._stored_ok(job) if self.stop_rule is not None and done else []

        def execute(index: int, warmup: bool) -> RunRecord:
            signals.check()
            record = pm.hook.pocketbench_execute(
                job=job, device=device, prepared=prepared, index=index, warmup=warmup
            )
            signals.check()  # a run stopped by a signal is not a measurement
            with signals.critical(), self._store_lock:
                self.store.add_run(job_id, record)
            records.append(record)
            if record.ok and not record.warmup:
                ok_runs.append(record)
            return record

        status, error = "done", None
        try:
            if done < limit:
                for i in range(job.warmup):
                    execute(i, True)
            for k in range(limit - done):
                record = execute(first + k, False)
                if (
                    record.ok
                    and self.stop_rule is not None
                    and done + k + 1 >= job.runs
                    and self.stop_rule(ok_runs)
                ):
                    break
            self._recheck_bandwidth(pm, job, device, job_id, bandwidth, records)
            if want_quality and self.quality is not None:
                # After the runs: a quality failure loses no measured run.
                from pocketbench.core.engine.quality import measure

                record = measure(self.registry, job, self.quality)
                with self._store_lock:
                    self.store.add_quality(job_id, record)
        except (DeviceError, StoreError) as exc:
            status, error = "failed", str(exc)
            raise
        except KeyboardInterrupt as exc:
            status, error = "interrupted", signals.reason(exc)
            raise
        finally:
            # After a failed write the store may refuse this one too: the job
            # then reads as interrupted once this process is gone.
            tolerate = (
                contextlib.suppress(StoreError) if status != "done" else contextlib.nullcontext()
            )
            with tolerate, signals.critical(), self._store_lock:
                self.store.finish_job(job_id, status, error)
        return JobOutcome(job=job, records=tuple(records), already_stored=done)

    def _stored_ok(self, job: Job) -> list[RunRecord]:
        with self._store_lock:
            configs = configurations(self.store, self.campaign)
        return next((list(c.ok_runs) for c in configs if c.config_key == job.config_key()), [])
