"""Jobs through the runner: failures are stored with raw output, nothing is lost."""

from __future__ import annotations

import pytest

from pocketbench.core.api.errors import SetupError, UsageError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.api.model import Job, Workload
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.plugins import BACKENDS, Registry
from pocketbench.core.engine.runner import Runner
from pocketbench.core.results.build import configurations
from pocketbench.core.results.store import Store
from pocketbench.testing.backends import GOOD, FakeBackend


@pytest.fixture
def reg() -> Registry:
    return Registry(warn=lambda m: None)


def make_runner(reg: Registry, tmp_path, **kw) -> Runner:
    store = Store.open(tmp_path / "r.db")
    runner = Runner(registry=reg, store=store, campaign="", **kw)
    runner.campaign = store.campaign("c")
    return runner


def job(**kw) -> Job:
    return Job(
        backend="script",
        quant=kw.pop("quant", "baseline"),
        model="m",
        workload=Workload(timeout_s=kw.pop("timeout", 30)),
        **kw,
    )


def test_every_failure_kind_is_stored_with_its_raw_output(reg, tmp_path) -> None:
    scripts = (
        GOOD,  # warm-up
        GOOD,  # run 0 ok
        "import sys; print('boom', file=sys.stderr); sys.exit(7)",  # run 1 crash
        "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",  # run 2 signal
        "import time; print('partial', flush=True); time.sleep(30)",  # run 3 hang
        "print('garbage \\x00 output')",  # run 4 unparseable
        GOOD,  # run 5 ok
    )

    class Backend(FakeBackend):
        @hookimpl
        def pocketbench_run(self, job, device, prepared, index):
            import sys

            self.calls = getattr(self, "calls", 0) + 1
            script = self.scripts[min(self.calls - 1, len(self.scripts) - 1)]
            return device.run([sys.executable, "-c", script], timeout=2)

    reg.add(BACKENDS, "script", Backend(scripts=scripts))
    runner = make_runner(reg, tmp_path)
    out = runner.run(job(runs=6), LocalDevice())
    errors = [r.error for r in out.measured]
    assert errors[0] is None and errors[5] is None
    assert "exited with code 7: boom" in errors[1]
    assert "SIGKILL" in errors[2]
    assert "timed out" in errors[3]
    assert "unparseable output" in errors[4]
    (cfg,) = configurations(runner.store)
    assert len(cfg.runs) == 6 and len(cfg.ok_runs) == 2 and len(cfg.warmups) == 1
    assert cfg.records[1].result.stderr == "boom\n"
    assert cfg.records[3].result.stdout == "partial\n"


def test_resume_never_remeasures_a_stored_run(reg, tmp_path) -> None:
    backend = FakeBackend()
    reg.add(BACKENDS, "script", backend)
    runner = make_runner(reg, tmp_path)
    runner.run(job(runs=3), LocalDevice())
    again = runner.run(job(runs=3), LocalDevice())
    assert again.records == () and again.already_stored == 3
    more = runner.run(job(runs=5), LocalDevice())
    assert [r.index for r in more.measured] == [3, 4]
    (cfg,) = configurations(runner.store)
    assert [r.index for r in cfg.runs] == [0, 1, 2, 3, 4]


def test_the_planner_makes_aliases_canonical_and_refuses_unknown_schemes(reg) -> None:
    from pocketbench.core.engine.plan import Request, check_request, plan_jobs

    reg.add(BACKENDS, "script", FakeBackend())
    checked = check_request(reg, Request(backend="script", quants=["Q4"], models=["m"]))
    (planned,) = plan_jobs(checked, {"local": LocalDevice()})
    assert planned.job.quant == "q4" and planned.asked == "Q4"
    with pytest.raises(UsageError, match="Choose one of: baseline, q4"):
        check_request(reg, Request(backend="script", quants=["q3"], models=["m"]))


@pytest.mark.parametrize("phase", ["prepare", "run", "parse", "warmup"])
def test_a_plugin_raising_in_any_phase_is_one_line(reg, tmp_path, phase) -> None:
    class Raiser(FakeBackend):
        pass

    def boom(self, **kw):
        raise RuntimeError(f"bug in {phase}")

    setattr(Raiser, f"pocketbench_{phase}", hookimpl(boom))
    reg.add(BACKENDS, "script", Raiser())
    runner = make_runner(reg, tmp_path)
    if phase == "prepare":
        with pytest.raises(SetupError, match="bug in prepare") as exc:
            runner.run(job(runs=2), LocalDevice())
        assert "\n" not in str(exc.value)
        assert configurations(runner.store) == []  # nothing half-written
        return
    out = runner.run(job(runs=2), LocalDevice())
    records = [*out.records]
    failing = [r for r in records if r.error and f"bug in {phase}" in r.error]
    assert failing, [r.error for r in records]
    (cfg,) = configurations(runner.store)
    assert len(cfg.runs) == 2  # the campaign went on and stored every run


def test_target_ci_stops_when_tight_enough(reg, tmp_path) -> None:
    reg.add(BACKENDS, "script", FakeBackend())
    from pocketbench.core.engine.runner import ci_stop_rule

    runner = make_runner(reg, tmp_path, stop_rule=ci_stop_rule(50.0), max_runs=10)
    out = runner.run(job(runs=3), LocalDevice())
    assert len(out.measured) == 3  # 50% is loose: the minimum is enough
    (tmp_path / "x").mkdir()
    tight = make_runner(reg, tmp_path / "x", stop_rule=lambda recs: False, max_runs=5)
    assert len(tight.run(job(runs=3), LocalDevice()).measured) == 5
