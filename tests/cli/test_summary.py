"""The table `bench run` prints after measuring."""

from __future__ import annotations

from pocketbench.core.api.model import Job, Workload
from pocketbench.core.results.store import Store


def job(quant: str) -> Job:
    return Job(backend="script", quant=quant, model="m", workload=Workload())


def test_summary_says_when_the_host_was_busy(tmp_path, capsys) -> None:
    from pocketbench.core.api.model import DeviceFacts, Metrics, ProcessResult, Readings, RunRecord
    from pocketbench.core.cli.run import print_summary
    from pocketbench.core.engine.plugins import Registry

    store = Store.open(tmp_path / "r.db")
    store.campaign("c")
    jobs = []
    for quant, load in (("quiet", 0.2), ("busy", 5.0)):
        j = job(quant=quant)
        jobs.append(j)
        jid = store.start_job(j, DeviceFacts(name="local", kind="local", cores=2), {})
        for i in range(2):
            store.add_run(
                jid,
                RunRecord(
                    index=i,
                    warmup=False,
                    before=Readings(time=0.0, load_avg=load),
                    result=ProcessResult(
                        argv=("x",), stdout="", stderr="", exit_code=0, wall_s=1.0
                    ),
                    metrics=Metrics(
                        prompt_tokens=8,
                        gen_tokens=8,
                        prompt_tps=9.0 + i,
                        generation_tps=4.0 + i,
                        total_tps=5.0,
                    ),
                ),
            )
    print_summary(Registry(warn=lambda message: None), store, "c", jobs)
    out = capsys.readouterr().out
    assert "Generation Speed (tokens/second)" in out
    assert out.count("was busy") == 1
    assert "script busy on local: the host was busy: load average up to 5.0 on 2 cores" in out
