"""Interleaved rounds: a study's configurations take turns on their device.

A device drifts while it is measured (a phone heats and clocks down, a
host's neighbours come and go), so configurations measured one after another
are measured on different devices.  Here every configuration of a device is
prepared first; then each *round* runs every configuration that still needs
runs once, in an order shuffled per round from the campaign's seed.  Two
configurations measured in the same round are measured minutes apart at
most, and a drift falls on all of them alike instead of on whichever ran
last.

A round's order depends only on the seed, the device and the round number,
so a killed study resumes at its first unfinished round in the same order,
skipping the runs already stored.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
from collections.abc import Callable, Sequence

from attrs import frozen

from pocketbench.core.api.errors import DeviceError, PocketbenchError, StoreError, UsageError
from pocketbench.core.api.model import Job
from pocketbench.core.devices.base import Device
from pocketbench.core.engine.room import NoRoom, check_room
from pocketbench.core.engine.runner import JobOutcome, Runner, Session

#: ``interleaved`` (the default): rounds in a seeded shuffled order; ``sequential``:
#: each configuration's runs back to back, one configuration after another.
ORDERS = ("interleaved", "sequential")
DEFAULT_ORDER = "interleaved"


@frozen(kw_only=True)
class Design:
    """How a campaign's runs are ordered: stored with the campaign, printed in the Method."""

    order: str = DEFAULT_ORDER
    seed: int = 0

    @property
    def interleaved(self) -> bool:
        return self.order == "interleaved"

    def to_json(self) -> str:
        return json.dumps({"order": self.order, "seed": self.seed}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Design | None:
        """The stored design; None for a campaign stored before designs were (sequential)."""
        if not text:
            return None
        data = json.loads(text)
        return cls(order=str(data.get("order", "sequential")), seed=int(data.get("seed", 0)))


def check_order(order: str, where: str = "order") -> str:
    """An ``order`` value as given (study key or ``--order``), or one line naming the valid ones."""
    if order not in ORDERS:
        raise UsageError(f"{where}: unknown order {order!r}; choose one of: {', '.join(ORDERS)}")
    return order


def new_seed() -> int:
    """A fresh seed for a new campaign (printed in the findings, so the order can be replayed)."""
    return secrets.randbelow(2**31)


def resolve_design(
    stored: Design | None, *, order: str, seed: int | None, asked: bool, force: bool, campaign: str
) -> Design:
    """The design a (possibly resumed) campaign runs with.

    A resumed campaign keeps its order and seed: its rounds were drawn from
    them.  Asking for the other order on the command line (``asked``) is
    refused unless ``force`` is given: the runs stored so far were measured
    the other way, and mixing the two makes neither analysis hold.
    """
    if stored is None:
        return Design(order=order, seed=new_seed() if seed is None else seed)
    if order != stored.order and (asked and not force):
        raise UsageError(
            f"campaign {campaign} was run in {stored.order} order; run it again without --order"
            f" (or with --order {stored.order}), give --force to continue it {order},"
            " or give the study another name"
        )
    if order != stored.order and force:
        return Design(order=order, seed=stored.seed)
    return stored


def round_order(seed: int, device: str, round_: int, n: int) -> list[int]:
    """The shuffled order of ``n`` configurations in one round on one device."""
    order = list(range(n))
    random.Random(f"{seed}|{device}|{round_}").shuffle(order)
    return order


def run_rounds(
    runner: Runner,
    jobs: Sequence[Job],
    device: Device,
    design: Design,
    on_error: Callable[[Job, PocketbenchError], None],
) -> list[JobOutcome]:
    """Measure ``jobs`` on ``device`` in interleaved rounds; one outcome per job, in order.

    The device is leased, the phone's room for every configuration's files
    checked (:mod:`~pocketbench.core.engine.room`), and every configuration
    claimed and prepared before round 1.  A configuration whose preparation
    fails is left out (its error goes to ``on_error``); a device or store
    failure ends every configuration's job as failed and propagates, as in
    :meth:`Runner.run`.
    """
    outcomes: dict[int, JobOutcome] = {}
    sessions: dict[int, Session] = {}
    leases = runner.leasing()
    key = jobs[0].device if jobs else device.name
    with leases.device(device), contextlib.ExitStack() as stack:
        wanted = [runner.wants_more(job) for job in jobs]
        try:
            # Every model is pushed before round 1: a phone without room for all says so first.
            check_room(runner, [job for job, want in zip(jobs, wanted) if want], device)
        except NoRoom as exc:
            for i, job in enumerate(jobs):
                if wanted[i]:
                    on_error(job, exc)
                    outcomes[i] = JobOutcome.failed(job, exc)
                else:
                    outcomes[i] = JobOutcome(job=job, already_stored=runner.done(job))
            return [outcomes[i] for i in range(len(jobs))]
        for i, job in enumerate(jobs):
            if not wanted[i]:
                outcomes[i] = JobOutcome(job=job, already_stored=runner.done(job))
                continue
            label = f"{job.backend} {job.quant} {job.model} on {job.device}"
            stack.enter_context(leases.configuration(runner.campaign, job.config_key(), label))
            try:
                session = runner.open(job, device)
            except (DeviceError, StoreError):
                raise
            except PocketbenchError as exc:
                on_error(job, exc)
                outcomes[i] = JobOutcome.failed(job, exc)
                continue
            if session is None:
                outcomes[i] = JobOutcome(job=job, already_stored=runner.done(job))
                continue
            stack.enter_context(session.closing())
            sessions[i] = session
        if sessions:
            with runner.store_lock:
                stored = {
                    s.job.config_key(): runner.store.stored_rounds(
                        runner.campaign, s.job.config_key()
                    )
                    for s in sessions.values()
                }
            _rounds(runner, sessions, stored, design.seed, key, len(jobs))
            for session in sessions.values():
                session.after_runs()
    for i, session in sessions.items():
        outcomes[i] = session.outcome()
    return [outcomes[i] for i in range(len(jobs))]


def _rounds(
    runner: Runner,
    sessions: dict[int, Session],
    stored: dict[str, set[int]],
    seed: int,
    key: str,
    n: int,
) -> None:
    """Run rounds until no configuration needs a run; rounds already stored are skipped."""
    rule = runner.stop_rule
    done = {i: stored.get(s.job.config_key(), set()) for i, s in sessions.items()}
    round_ = min((_first_missing(r) for r in done.values()), default=0)
    while True:
        # --target-ci adds whole rounds: once any configuration is short of its
        # target, every configuration below --max-runs runs again (the pairs stay whole).
        unsure = rule is not None and any(
            not rule(s.ok_runs) for s in sessions.values() if s.ok_count < s.limit
        )
        wanted = [
            i
            for i, s in sessions.items()
            if s.attempts < s.limit - s.done
            and (s.ok_count < s.job.runs or (unsure and s.ok_count < s.limit))
        ]
        if not wanted:
            return
        order = round_order(seed, key, round_, n)
        for position, i in enumerate(order):
            if i in wanted and round_ not in done[i]:
                sessions[i].measure(round=round_, position=position)
        round_ += 1


def _first_missing(rounds: set[int]) -> int:
    r = 0
    while r in rounds:
        r += 1
    return r
