"""Comparisons by round pair only runs one phone made: stored runs of a pool's phones.

In a lab pool (``shard``) two configurations run the same round numbers on
different phones, and a configuration moved to another phone keeps its
rounds there.  A ratio of two runs made on different phones measures the
phones: the findings must not pair them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pocketbench.core.analysis.comparisons import compare
from pocketbench.core.api.model import DeviceFacts, Job, ProcessResult, RunRecord, Workload
from pocketbench.core.engine.rounds import Design
from pocketbench.core.results.build import configurations
from pocketbench.core.results.findings import Column
from pocketbench.core.results.report import ConfigReport
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import metrics

POOL = "pool:Loopback A25"
FAST, SLOW = "adb://10.0.1.2:5037/phone-1", "adb://10.0.2.2:5037/phone-2"
#: Each round's own noise, shared by both configurations measured in it on one phone.
NOISE = [1.00, 0.97, 1.02, 0.99, 1.01, 0.98]


def _store_rounds(
    store: Store, quant: str, phone: str, rounds: Sequence[int], speed: float
) -> None:
    """One job of configuration ``quant`` on ``phone`` of the pool, one run per round."""
    job = Job(
        backend="llamacpp",
        quant=quant,
        model="tiny",
        device=POOL,
        runs=len(NOISE),
        warmup=0,
        workload=Workload(prompt_tokens=64, gen_tokens=32, threads=2),
    )
    facts = DeviceFacts(name=phone, kind="adb", model="Loopback A25")
    job_id = store.start_job(job, facts, {})
    result = ProcessResult(argv=("llama-completion",), stdout="", stderr="", exit_code=0, wall_s=1)
    done = len(store.stored_rounds("lab", job.config_key()))
    for i, r in enumerate(rounds):
        gen = speed * NOISE[r]
        record = RunRecord(
            index=done + i, warmup=False, result=result, metrics=metrics(gen * 4, gen), round=r
        )
        store.add_run(job_id, record)
    store.finish_job(job_id, "done")


def _configs(db: Path) -> tuple[ConfigReport, ConfigReport]:
    with Store.open(db, create=False) as store:
        by_quant = {c.quant: c for c in configurations(store, "lab")}
    return by_quant["q4_0"], by_quant["q8_0"]


def _generation(a: ConfigReport, b: ConfigReport):  # type: ignore[no-untyped-def]
    return next(
        c
        for c in compare(Column(label="q4_0", config=a), Column(label="q8_0", config=b))
        if c.metric == "generation_tps"
    )


def test_a_configuration_moved_to_another_phone_pairs_only_its_rounds_there(
    tmp_path: Path,
) -> None:
    # q4_0 and q8_0 are equally fast on each phone; phone 1 is twice as fast as phone 2.
    # q4_0 ran rounds 0-1 on phone 1, then its phone went away and phone 2 took it over.
    db = tmp_path / "lab.db"
    with Store.open(db) as store:
        store.campaign("lab", design=Design(order="interleaved", seed=7).to_json())
        _store_rounds(store, "q4_0", FAST, [0, 1], 20.0)
        _store_rounds(store, "q4_0", SLOW, [2, 3, 4, 5], 10.0)
        _store_rounds(store, "q8_0", SLOW, [0, 1, 2, 3, 4, 5], 10.0)
    a, b = _configs(db)
    assert a.device == b.device == POOL and a.n_ok == b.n_ok == 6
    c = _generation(a, b)
    # Paired over the 4 rounds phone 2 measured both in: the true ratio, 1.00, exactly.
    assert c.welch.df == 3
    assert c.ratio.estimate == 1.0 and c.ratio.ci == (1.0, 1.0)
    # Pairing rounds 0-1 across the phones would have said q4_0 is 26% faster.


def test_a_shard_pools_configurations_on_different_phones_are_not_paired(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    with Store.open(db) as store:
        store.campaign("lab", design=Design(order="interleaved", seed=7).to_json())
        _store_rounds(store, "q4_0", FAST, range(6), 20.0)
        _store_rounds(store, "q8_0", SLOW, range(6), 10.0)
    a, b = _configs(db)
    c = _generation(a, b)
    # Compared as independent samples (Welch's fractional degrees of freedom), not as
    # six pairs whose shared per-round noise would make the phones' 2x exact.
    assert c.welch.df != 5 and c.ratio.ci[0] < 2.0 < c.ratio.ci[1]
