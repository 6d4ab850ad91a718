"""Running jobs: prepare, warm up, measure, store each run as it ends.

The flow goes one way: a :class:`Job` and a device go in, records go to the
store the moment each execution ends, and a :class:`JobOutcome` comes out.
Re-running the same campaign resumes: runs already stored for a
configuration are never measured again.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from attrs import define, frozen

from pocketbench.core.api.errors import DeviceError, PocketbenchError, SetupError, StoreError
from pocketbench.core.api.model import Job, RunRecord
from pocketbench.core.devices.base import Device
from pocketbench.core.engine import signals, tokenlauncher
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
    #: In interleaved rounds, one more warm-up before each later measured run of a
    #: configuration (a switch between models may cost a cold page cache).
    warmup_per_round: bool = False
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

    def recheck_bandwidth(
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
        session = self.open(job, device)
        if session is None:
            return JobOutcome(job=job, already_stored=self._done(job))
        with session.closing():
            for k in range(session.limit - session.done):
                record = session.measure()
                if (
                    record.ok
                    and self.stop_rule is not None
                    and session.done + k + 1 >= job.runs
                    and self.stop_rule(session.ok_runs)
                ):
                    break
            session.after_runs()
        return session.outcome()

    def wants_more(self, job: Job) -> bool:
        """Whether a configuration still has runs (or quality) to measure in this campaign."""
        if self._done(job) < job.runs or self.stop_rule is not None:
            return True
        with self._store_lock:
            return self.quality is not None and not self.store.has_quality(
                self.campaign, job.config_key()
            )

    def open(self, job: Job, device: Device) -> Session | None:
        """Prepare ``job`` on ``device`` and record it as running (claimed by the caller).

        None when nothing is left to measure.  Setup errors propagate before
        anything is written for the job.
        """
        done = self._done(job)
        limit = self.max_runs if self.stop_rule is not None and self.max_runs else job.runs
        with self._store_lock:
            want_quality = self.quality is not None and not self.store.has_quality(
                self.campaign, job.config_key()
            )
        if done >= job.runs and self.stop_rule is None and not want_quality:
            return None
        with self._store_lock:
            first = self.store.next_index(self.campaign, job.config_key())
        pm = self.registry.backend_manager(job.backend, extra=self.wrappers)
        facts = device.facts()
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
        if want_quality and self.quality is not None:
            from pocketbench.core.engine.quality import check_context

            check_context(job, prepared, self.quality)
        # Before the first warm-up, so the probe never runs beside a measured run.
        bandwidth = (
            self.bandwidth.for_job(pm, job, device, prepared)
            if self.bandwidth is not None
            else None
        )
        # A phone times each token with the core's launcher, pushed beside the runtime.
        tokenlauncher.install(pm, job, device, say)
        with signals.critical(), self._store_lock:
            job_id = self.store.start_job(
                job, facts, prepared.describe, self._leases().holder, bandwidth=bandwidth
            )
        if bandwidth is not None and bandwidth.device is not None:
            place = (device.name, job.workload.threads, tuple(sorted(set(job.workload.cores))))
            with self._store_lock:
                self._probed.setdefault(place, (device, job, []))[2].append(job_id)
        # Adaptive stopping judges every successful run of the configuration:
        # those stored before a resume, read once, and the ones measured here.
        ok_runs = self._stored_ok(job) if self.stop_rule is not None and done else []
        return Session(
            runner=self,
            job=job,
            device=device,
            pm=pm,
            prepared=prepared,
            job_id=job_id,
            done=done,
            limit=limit,
            next_index=first,
            want_quality=want_quality,
            ok_runs=ok_runs,
            bandwidth=bandwidth,
        )

    def done(self, job: Job) -> int:
        """Successful measured runs of ``job`` stored in this campaign."""
        return self._done(job)

    @property
    def store_lock(self) -> threading.Lock:
        """Serialises this process's use of the store connection."""
        return self._store_lock

    def leasing(self) -> Leases:
        """The device leases and configuration claims of this runner."""
        return self._leases()

    def _stored_ok(self, job: Job) -> list[RunRecord]:
        with self._store_lock:
            configs = configurations(self.store, self.campaign)
        return next((list(c.ok_runs) for c in configs if c.config_key == job.config_key()), [])


@define(kw_only=True)
class Session:
    """One prepared configuration on its device, measured run by run (see :meth:`Runner.open`).

    Its warm-ups come before its first measured run; :meth:`closing` records
    how the job ended, whatever stops it.
    """

    runner: Runner
    job: Job
    device: Device
    pm: Any
    prepared: Any
    job_id: int
    #: Successful measured runs stored before this session.
    done: int
    #: How many successful runs the configuration may reach.
    limit: int
    next_index: int
    want_quality: bool
    ok_runs: list[RunRecord]
    #: The bandwidth figure the job was judged against when it was opened.
    bandwidth: JobBandwidth | None = None
    records: list[RunRecord] = attrs.field(factory=list)
    warmed: bool = False

    @property
    def attempts(self) -> int:
        """Measured runs made in this session (failed ones included)."""
        return sum(1 for r in self.records if not r.warmup)

    @property
    def ok_count(self) -> int:
        """Successful measured runs, stored before and measured here."""
        return self.done + sum(1 for r in self.records if r.ok and not r.warmup)

    def measure(self, round: int | None = None, position: int | None = None) -> RunRecord:
        """One measured run (after the warm-ups, the first time), stored at once."""
        if not self.warmed:
            self.warmed = True
            for i in range(self.job.warmup):
                self._execute(i, True)
        elif round is not None and self.runner.warmup_per_round:
            self._execute(self.next_index, True)
        index = self.next_index
        self.next_index += 1
        return self._execute(index, False, round, position)

    def _execute(
        self, index: int, warmup: bool, round: int | None = None, position: int | None = None
    ) -> RunRecord:
        signals.check()
        record = self.pm.hook.pocketbench_execute(
            job=self.job, device=self.device, prepared=self.prepared, index=index, warmup=warmup
        )
        signals.check()  # a run stopped by a signal is not a measurement
        if round is not None and not warmup:
            record = attrs.evolve(record, round=round, position=position)
        with signals.critical(), self.runner.store_lock:
            self.runner.store.add_run(self.job_id, record)
        self.records.append(record)
        if record.ok and not record.warmup:
            self.ok_runs.append(record)
        return record

    def after_runs(self) -> None:
        """After the runs: the bandwidth figure checked against them, then quality.

        A quality failure loses no measured run.
        """
        runner = self.runner
        runner.recheck_bandwidth(
            self.pm, self.job, self.device, self.job_id, self.bandwidth, self.records
        )
        quality = runner.quality
        if self.want_quality and quality is not None:
            from pocketbench.core.engine.quality import measure

            record = measure(self.runner.registry, self.job, quality)
            with self.runner.store_lock:
                self.runner.store.add_quality(self.job_id, record)

    @contextlib.contextmanager
    def closing(self) -> Iterator[None]:
        """Mark the job done, failed or interrupted when the block ends."""
        status, error = "done", None
        try:
            yield
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
            with tolerate, signals.critical(), self.runner.store_lock:
                self.runner.store.finish_job(self.job_id, status, error)

    def outcome(self) -> JobOutcome:
        return JobOutcome(job=self.job, records=tuple(self.records), already_stored=self.done)
