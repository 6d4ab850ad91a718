"""Spreading jobs over a lab's phones: shard a pool, or replicate on every phone.

``shard``: a pool (``pool:MODEL``) is one device to the planner; its
configurations wait in one queue that every phone of the pool serves, so
a study of N configurations on K identical phones takes about N/K of the
time.  A configuration runs all its runs on the phone that took it.  A
phone (or its host's adb server) that goes away puts its unfinished
configuration back at the front of the queue for the pool's remaining
phones, which resume it after the runs already stored.

``replicate``: every phone is its own device, so every configuration runs on
every phone; a phone that goes away leaves its remaining configurations
incomplete (resumed by running the same command again).

Runs are stored as they end, whichever phone measured them, so nothing
measured is lost when a phone or a host disappears.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from attrs import define, field, frozen

from pocketbench.core.api.errors import DeviceError, PocketbenchError, StoreError, UsageError
from pocketbench.core.api.model import Job
from pocketbench.core.devices.base import Device
from pocketbench.core.devices.lab import SPREADS
from pocketbench.core.engine import signals
from pocketbench.core.engine.rounds import Design, run_rounds
from pocketbench.core.engine.runner import JobOutcome, Runner
from pocketbench.core.kit.status import Echo


@define(kw_only=True)
class Targets:
    """Opened devices: what the planner sees, and which phones serve each of its names."""

    #: Planner's name -> a device standing for it (a pool's first phone under shard).
    devices: dict[str, Device] = field(factory=dict)
    #: Planner's name -> the phones that measure its jobs.
    groups: dict[str, list[Device]] = field(factory=dict)
    #: Names whose jobs any phone of the group may take (shard pools).
    shared: set[str] = field(factory=set)
    #: Pool -> its phones' names (for the report's per-phone breakdown).
    pools: dict[str, list[str]] = field(factory=dict)

    @classmethod
    def single(cls, devices: Mapping[str, Device]) -> Targets:
        """Each device serves only its own jobs (no pools)."""
        return cls(devices=dict(devices), groups={n: [d] for n, d in devices.items()})

    def phones(self) -> list[Device]:
        """Every opened device once."""
        seen: dict[str, Device] = {}
        for group in self.groups.values():
            for d in group:
                seen.setdefault(d.name, d)
        return list(seen.values())

    def close(self) -> None:
        for d in self.phones():
            d.close()


def open_targets(
    specs: Sequence[str],
    *,
    servers: Sequence[str] = (),
    spread: str = "shard",
    echo: Echo | None = None,
) -> Targets:
    """Open every device ``specs`` name, expanding hosts and pools (see :mod:`~pocketbench.core.devices.lab`)."""
    from pocketbench.core.devices import open_device
    from pocketbench.core.devices.adb import AdbDevice
    from pocketbench.core.devices.lab import PoolSpec, parse_lab_spec, parse_server, resolve
    from pocketbench.core.engine.plan import push_display

    if spread not in SPREADS:
        raise UsageError(f"unknown spread {spread!r}; choose one of: {', '.join(SPREADS)}")
    lab = [parse_server(s, f"lab.servers[{i}]") for i, s in enumerate(servers)]
    targets = Targets()

    def add(name: str, device: Device) -> None:
        if name in targets.groups or any(d.name == device.name for d in targets.phones()):
            device.close()
            raise UsageError(f"device {device.name} is given twice")
        if echo is not None:
            device.push_display = push_display(device.name, echo)

    try:
        for spec in specs or ("local",):
            parsed = parse_lab_spec(spec)
            if parsed is None:
                device = open_device(spec)
                add(device.name, device)
                targets.devices[device.name] = device
                targets.groups[device.name] = [device]
                continue
            phones = []
            for p in resolve(parsed, lab):
                d = AdbDevice(p.serial, host=p.server.host, port=p.server.port, url_name=True)
                add(d.name, d)
                phones.append(d)
                if not isinstance(parsed, PoolSpec) or spread == "replicate":
                    targets.devices[d.name] = d
                    targets.groups[d.name] = [d]
            if isinstance(parsed, PoolSpec):
                targets.pools[parsed.name] = [d.name for d in phones]
                if spread == "shard":
                    targets.devices[parsed.name] = phones[0]
                    targets.groups[parsed.name] = phones
                    targets.shared.add(parsed.name)
            if echo is not None:
                what = spec if isinstance(parsed, PoolSpec) else str(parsed.server)
                echo(f"{what}: {len(phones)} phone(s): {', '.join(d.name for d in phones)}")
    except BaseException:
        targets.close()
        raise
    return targets


@frozen(kw_only=True)
class PoolRun:
    """What the scheduler did: outcomes in job order, and how long each phone sat idle."""

    outcomes: tuple[JobOutcome, ...]
    wall_s: float
    #: Phone -> seconds it had no job while the run went on (waiting or finished early).
    idle_s: dict[str, float]
    #: Jobs moved to another phone of their pool after their phone went away.
    requeued: int = 0


def run_targets(
    runner: Runner,
    jobs: Sequence[Job],
    targets: Targets,
    on_error: Callable[[Job, PocketbenchError], None],
    echo: Echo | None = None,
    design: Design | None = None,
) -> PoolRun:
    """Run ``jobs`` on ``targets``: phones in parallel.

    In sequential order a phone takes one job at a time.  In interleaved
    order (``design``) a phone takes its share of its queue and measures it
    in rounds (:mod:`~pocketbench.core.engine.rounds`): a device its whole
    queue, a shard pool's phone an equal part of the pool's queue.
    """
    say = echo or (lambda message: None)
    queues: dict[str, deque[tuple[int, Job]]] = {n: deque() for n in targets.groups}
    for position, job in enumerate(jobs):
        queues[job.device].append((position, job))
    interleaved = design is not None and design.interleaved
    serves: dict[str, list[str]] = {}
    phones: dict[str, Device] = {}
    for name, group in targets.groups.items():
        for d in group:
            serves.setdefault(d.name, []).append(name)
            phones[d.name] = d
    cond = threading.Condition()
    busy: set[str] = set()
    alive: set[str] = set(phones)
    outcomes: list[tuple[int, JobOutcome]] = []
    busy_s: dict[str, float] = dict.fromkeys(phones, 0.0)
    interrupted: list[BaseException] = []
    requeued = 0

    def others_may_return(phone: str) -> bool:
        # A job still running on another phone of a shared pool may come back.
        return any(
            key in targets.shared and any(d.name in busy for d in targets.groups[key])
            for key in serves[phone]
        )

    def share(key: str) -> int:
        """Interleaved: a device takes its whole queue; a shard pool's phone an equal part
        of what is left, counting the pool's phones still waiting for work."""
        if key not in targets.shared:
            return len(queues[key])
        free = [d for d in targets.groups[key] if d.name in alive and d.name not in busy]
        return -(-len(queues[key]) // max(1, len(free)))

    def take(phone: str) -> tuple[str, list[tuple[int, Job]]] | None:
        with cond:
            while True:
                if signals.stopping.is_set():
                    return None
                for key in serves[phone]:
                    if queues[key]:
                        n = share(key) if interleaved else 1
                        batch = [queues[key].popleft() for _ in range(n)]
                        busy.add(phone)
                        return key, batch
                if not others_may_return(phone):
                    return None
                cond.wait(0.5)

    def pooled(phone: str) -> bool:
        return any(phone in names for names in targets.pools.values())

    def left_incomplete(phone: str, job: Job) -> JobOutcome:
        """A job of ``phone``'s batch when the phone went away: incomplete unless all its runs
        are stored (in rounds, every job of the batch was under way)."""
        done = runner.done(job)
        if done >= job.runs:
            return JobOutcome(job=job, already_stored=done)
        exc = DeviceError(
            f"incomplete: {phone} went away with {job.runs - done} of this configuration's"
            f" {job.runs} runs left; run the same command again to resume once it is back"
        )
        on_error(job, exc)
        return JobOutcome.failed(job, exc)

    def give_up(phone: str) -> None:
        """``phone`` is gone: its own queues end as incomplete unless a pool phone remains."""
        nonlocal requeued
        alive.discard(phone)
        for key in serves[phone]:
            if key in targets.shared and any(d.name in alive for d in targets.groups[key]):
                continue
            while queues[key]:
                position, job = queues[key].popleft()
                exc = DeviceError(
                    f"incomplete: {phone} went away before this configuration was measured;"
                    " run the same command again to resume once it is back"
                )
                on_error(job, exc)
                outcomes.append((position, JobOutcome.failed(job, exc)))

    def work(phone: str) -> None:
        nonlocal requeued
        device = phones[phone]
        while True:
            taken = take(phone)
            if taken is None:
                return
            key, batch = taken
            started = time.monotonic()
            try:
                if interleaved:
                    assert design is not None
                    done = run_rounds(runner, [j for _, j in batch], device, design, on_error)
                else:
                    done = [runner.run(batch[0][1], device)]
            except (DeviceError, StoreError) as exc:
                with cond:
                    busy.discard(phone)
                    busy_s[phone] += time.monotonic() - started
                    alive.discard(phone)
                    left = [d.name for d in targets.groups[key] if d.name in alive]
                    if key in targets.shared and left and isinstance(exc, DeviceError):
                        queues[key].extendleft(reversed(batch))
                        requeued += len(batch)
                        for _, job in batch:
                            say(
                                f"{phone} went away ({exc}); {job.backend} {job.quant}"
                                f" {job.model} goes back to {key}'s queue for {', '.join(left)}"
                            )
                    elif isinstance(exc, DeviceError) and pooled(phone):
                        # The pool's account, not the adb server's: what is left, and that
                        # the same command resumes it once the phone is back.
                        say(f"{phone} went away ({exc})")
                        for position, job in batch:
                            outcomes.append((position, left_incomplete(phone, job)))
                    else:
                        for position, job in batch:
                            on_error(job, exc)
                            outcomes.append((position, JobOutcome.failed(job, exc)))
                    give_up(phone)
                    cond.notify_all()
                return
            except PocketbenchError as exc:
                done = []
                for _, job in batch:
                    on_error(job, exc)
                    done.append(JobOutcome.failed(job, exc))
            except BaseException as exc:  # Ctrl-C in a worker: stop everything
                interrupted.append(exc)
                if len(phones) > 1:  # the other workers stop after their current run
                    signals.stopping.set()
                with cond:
                    busy.discard(phone)
                    cond.notify_all()
                return
            with cond:
                busy.discard(phone)
                busy_s[phone] += time.monotonic() - started
                outcomes.extend(zip((p for p, _ in batch), done))
                cond.notify_all()

    begun = time.monotonic()
    threads = [
        threading.Thread(target=work, args=(p,), name=f"device {p}", daemon=True) for p in phones
    ]
    if len(threads) == 1:
        work(next(iter(phones)))
    else:

        def wake() -> None:
            with cond:
                cond.notify_all()

        signals.join_devices(threads, wake)
    if interrupted:
        raise interrupted[0]
    if any(queues.values()):
        signals.check()  # stopped by a signal between two jobs: not "incomplete"
    # Jobs no phone could take (every phone of their group went away).
    for key, queue in queues.items():
        while queue:
            position, job = queue.popleft()
            exc = DeviceError(
                f"incomplete: no phone of {key} is left; run the same command again to resume"
            )
            on_error(job, exc)
            outcomes.append((position, JobOutcome.failed(job, exc)))
    wall = time.monotonic() - begun
    return PoolRun(
        outcomes=tuple(o for _, o in sorted(outcomes, key=lambda pair: pair[0])),
        wall_s=wall,
        idle_s={p: max(0.0, wall - b) for p, b in busy_s.items()},
        requeued=requeued,
    )
