"""The bandwidth probe on this host: built with cc, run as a real process, cached per placement.

No figure is asserted (the machine is shared); what a user would notice is:
the probe runs with the job's threads, a second job reuses the figure, a
re-measure asks again, and every bad figure or failure is one line.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.hooks import hookimpl
from pocketbench.core.devices import probe
from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.engine.bandwidth import BandwidthPolicy
from pocketbench.core.results.build import configurations


def policy(tmp_path: Path, lines: list[str], **kw: object) -> BandwidthPolicy:
    # The machine is shared: these tests judge the cache, not how busy the host is,
    # so no load counts as busy here (the busy rule has its own test below); and
    # every policy belongs to one campaign that began before them all.
    quiet = {"busy_others_cores": math.inf, "busy_load_per_core": math.inf, "not_before": 0.0}
    return BandwidthPolicy(
        cache=tmp_path / "bw",
        echo=lines.append,
        buffer_mib=8,
        trials=3,
        **{**quiet, **kw},  # type: ignore[arg-type]
    )


def test_a_figure_probed_beside_a_streaming_neighbour_is_not_reused_for_a_quiet_run(
    tmp_path: Path,
) -> None:
    # The neighbour streams memory on one core (the probe itself, one thread, many trials).
    binary = probe.build(probe.toolchain_for("", local=True))
    neighbour = subprocess.Popen(
        [str(binary), "-t", "1", "-m", "256", "-r", "1000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert neighbour.stdout is not None
        assert neighbour.stdout.readline().strip() == "bwprobe 2"  # its arrays are allocated
        lines: list[str] = []
        notes: list[str] = []
        p = BandwidthPolicy(cache=tmp_path / "bw", echo=lines.append, buffer_mib=64, trials=4)
        busy = p.device_bandwidth(LocalDevice(), 1, notes)
    finally:
        neighbour.kill()
        neighbour.wait()
    assert busy is not None and "other processes used" in busy.busy
    assert busy.others_cores is not None and busy.others_cores > 0.25
    (note,) = notes
    assert "probed on a busy device" in note and "serves this job only" in note
    # The campaign's next job, in a quiet minute, measures again.
    again_notes: list[str] = []
    again = p.device_bandwidth(LocalDevice(), 1, again_notes)
    assert again is not None and not again.cached and again.measured_at > busy.measured_at
    assert "was taken on a busy device" in again_notes[0]
    assert sum("measuring the memory bandwidth" in line for line in lines) == 2


def test_a_figure_from_before_the_campaign_is_measured_again(tmp_path: Path) -> None:
    first = policy(tmp_path, []).device_bandwidth(LocalDevice(), 1, [])
    assert first is not None
    notes: list[str] = []
    later = policy(tmp_path, [], not_before=first.measured_at + 1)
    again = later.device_bandwidth(LocalDevice(), 1, notes)
    assert again is not None and not again.cached
    assert "before this campaign or study began" in notes[0]


def test_measured_once_per_device_and_placement_then_cached(tmp_path: Path) -> None:
    lines: list[str] = []
    notes: list[str] = []
    p = policy(tmp_path, lines)
    first = p.device_bandwidth(LocalDevice(), 2, notes)
    assert first is not None and not first.cached
    assert first.threads == 2
    assert set(first.samples_gbps) == {"read", "copy", "triad"}
    assert all(len(v) == 3 and min(v) > 0 for v in first.samples_gbps.values())
    again = p.device_bandwidth(LocalDevice(), 2, notes)
    assert again is not None and again.cached and again.samples_gbps == first.samples_gbps
    other = p.device_bandwidth(LocalDevice(), 1, notes)  # another placement: its own figure
    assert other is not None and other.threads == 1 and not other.cached
    assert notes == []
    assert sum("measuring the memory bandwidth of local" in line for line in lines) == 2


def test_remeasure_runs_the_probe_again_once_per_process(tmp_path: Path) -> None:
    lines: list[str] = []
    first = policy(tmp_path, lines).device_bandwidth(LocalDevice(), 2, [])
    p = policy(tmp_path, lines, remeasure=True)
    fresh = p.device_bandwidth(LocalDevice(), 2, [])
    assert fresh is not None and first is not None
    assert not fresh.cached and fresh.measured_at > first.measured_at
    later = p.device_bandwidth(LocalDevice(), 2, [])  # the next job of the same campaign
    assert later is not None and later.cached and later.measured_at == fresh.measured_at


@pytest.mark.parametrize(
    "corrupt, why",
    [
        (lambda d: d["measurement"]["samples_gbps"].update(read=[0.0, 0.0, 0.0]), "implausible"),
        (
            lambda d: d["measurement"]["samples_gbps"].update(read=[1e6, 1e6, 1e6]),
            "theoretical limit",
        ),
        (lambda d: d["measurement"].update(threads="two"), "malformed"),
        (lambda d: d.update(format=99), "another format"),
        (None, "unreadable"),
    ],
)
def test_a_bad_cached_figure_is_measured_again_with_one_note(tmp_path: Path, corrupt, why) -> None:  # noqa: ANN001
    p = policy(tmp_path, [])
    p.device_bandwidth(LocalDevice(), 2, [])
    (cached,) = (tmp_path / "bw").glob("*.json")
    if corrupt is None:
        cached.write_text('{"format": 1, "measurem')  # a full disk's half file
    else:
        data = json.loads(cached.read_text())
        corrupt(data)
        cached.write_text(json.dumps(data))
    notes: list[str] = []
    again = policy(tmp_path, []).device_bandwidth(LocalDevice(), 2, notes)
    assert again is not None and not again.cached
    (note,) = notes
    assert why in note and "measured again" in note and "\n" not in note
    # The new figure replaced the bad one.
    assert policy(tmp_path, []).device_bandwidth(LocalDevice(), 2, []).cached  # type: ignore[union-attr]


FAKE_CC = r"""
import sys
out = sys.argv[sys.argv.index("-o") + 1]
with open(out, "w") as f:
    f.write("#!/bin/sh\necho 'bwprobe 2'; echo 'threads 1'; echo 'cpus'; echo 'bytes 8'\n"
            "for k in read copy triad; do echo \"$k 0 1000000000000000 1 1\"; done\n")
"""


def test_an_implausible_probe_figure_is_refused_in_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    cc = tmp_path / "fakecc.py"
    cc.write_text(textwrap.dedent(FAKE_CC))
    monkeypatch.setenv(probe.CC_ENV, f"{sys.executable} {cc}")
    notes: list[str] = []
    assert policy(tmp_path, []).device_bandwidth(LocalDevice(), 1, notes) is None
    (note,) = notes
    assert "refused" in note and "above the CPU's theoretical limit" in note and "\n" not in note
    assert not list((tmp_path / "bw").glob("*.json"))  # nothing implausible is cached


def test_a_probe_that_cannot_be_built_is_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv(probe.CC_ENV, "false")
    notes: list[str] = []
    assert policy(tmp_path, []).device_bandwidth(LocalDevice(), 1, notes) is None
    (note,) = notes
    assert note.startswith("cannot build the bandwidth probe with false") and "\n" not in note


def test_threads_are_pinned_where_asked_and_a_bad_cpu_is_one_line() -> None:
    binary = probe.build(probe.toolchain_for("", local=True))
    out = probe.run(LocalDevice(), binary, threads=1, cpus=(0,), buffer_mib=4, trials=1)
    assert out.cpus == (0,) and out.placed == (0,)
    with pytest.raises(SetupError) as exc:
        probe.run(LocalDevice(), binary, threads=1, cpus=(4095,), buffer_mib=4, trials=1)
    assert "cannot pin thread 0 to CPU 4095" in str(exc.value) and "\n" not in str(exc.value)


def test_a_phone_of_another_architecture_without_a_cross_compiler_is_one_line(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv(probe.CC_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "ziglang", None)  # as if ziglang were not installed
    monkeypatch.setattr(probe.shutil, "which", lambda name: None)
    with pytest.raises(SetupError) as exc:
        probe.toolchain_for("mips64", local=False)
    assert "needs the cross toolchain" in str(exc.value) and "\n" not in str(exc.value)


def test_the_core_placement_is_part_of_the_cache_key_and_of_the_figure(tmp_path: Path) -> None:
    lines: list[str] = []
    p = policy(tmp_path, lines)
    free = p.device_bandwidth(LocalDevice(), 1, [])
    pinned = p.device_bandwidth(LocalDevice(), 1, [], cores=(0,), placement="little")
    assert free is not None and pinned is not None
    assert not pinned.cached, "a pinned job reused the unpinned figure"
    assert free.where == "not pinned" and pinned.cpus == (0,)
    assert pinned.where == "little (core 0, mask 1)"
    assert "1 thread on little (core 0, mask 1)" in lines[-1]
    again = p.device_bandwidth(LocalDevice(), 1, [], cores=(0,), placement="little")
    assert again is not None and again.cached and again.where == pinned.where
    assert len(list((tmp_path / "bw").glob("*.json"))) == 2


def test_a_backend_toolchain_builds_the_probe_and_is_recorded(tmp_path: Path) -> None:
    from pocketbench.core.api.bandwidth import ProbeToolchain

    asked: list[str] = []
    host = probe.toolchain_for("", local=True)

    def backend() -> ProbeToolchain:
        asked.append("toolchain")
        return ProbeToolchain(
            command=host.command, target="the backend's target", description="backend cc 1.0"
        )

    p = policy(tmp_path, [])
    measured = p.device_bandwidth(LocalDevice(), 1, [], toolchain=backend)
    assert measured is not None and "the backend's target" in measured.toolchain
    assert "backend cc 1.0" in measured.toolchain
    assert p.device_bandwidth(LocalDevice(), 1, [], toolchain=backend).cached  # type: ignore[union-attr]
    assert asked == ["toolchain"], "the backend was asked for a toolchain the cache made needless"


GARBAGE_CC = r"""
import os, sys
out = sys.argv[sys.argv.index("-o") + 1]
with open(out, "wb") as f:
    f.write(b"\x7fELF" + bytes(60))  # an executable for no processor this device has
os.chmod(out, 0o755)
"""


def test_a_probe_that_cannot_run_on_the_device_is_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    cc = tmp_path / "garbagecc.py"
    cc.write_text(textwrap.dedent(GARBAGE_CC))
    monkeypatch.setenv(probe.CC_ENV, f"{sys.executable} {cc}")
    notes: list[str] = []
    assert policy(tmp_path, []).device_bandwidth(LocalDevice(), 1, notes) is None
    (note,) = notes
    assert note.startswith("the bandwidth probe cannot run on local") and "\n" not in note
    assert "MBU is not reported" in note


class _ExoticModel:
    """A backend part that cannot read its model's size (a user's exotic file)."""

    @hookimpl
    def pocketbench_decode_bytes(self, job, prepared):  # noqa: ANN001, ANN201
        raise SetupError("model.bin: no tensor table pocketbench can read")


def test_a_model_whose_size_cannot_be_read_keeps_its_speed_results(tmp_path: Path) -> None:
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.engine.runner import Runner
    from pocketbench.core.results.store import Store
    from pocketbench.testing.backends import FakeBackend, registry_with

    exotic = _ExoticModel()
    lines: list[str] = []
    with Store.open(tmp_path / "r.db") as store:
        runner = Runner(
            registry=registry_with(FakeBackend()), store=store, campaign="",
            wrappers=[exotic], bandwidth=policy(tmp_path, lines),
        )  # fmt: skip
        runner.campaign = store.campaign("c")
        j = Job(backend="fake", quant="q4", model="m", runs=2, warmup=0,
                workload=Workload(threads=1))  # fmt: skip
        runner.run(j, LocalDevice())
        (config,) = configurations(store, "c")
    assert len(config.ok_runs) == 2, "the speed results were lost"
    (note,) = [line for line in lines if line.startswith("note:")]
    assert "no tensor table" in note and "MBU is not reported" in note
    b = config.bandwidth
    assert b is not None and b.bytes_per_token is None and b.mbu is None
    assert b.device is not None, "the device's bandwidth is still measured"
    assert any("no tensor table" in n for n in b.notes)


def test_a_backend_whose_probe_toolchain_fails_costs_mbu_only(tmp_path: Path) -> None:
    def broken() -> None:
        raise RuntimeError("zig exploded")

    notes: list[str] = []
    assert policy(tmp_path, []).device_bandwidth(LocalDevice(), 1, notes, toolchain=broken) is None
    (note,) = notes
    assert "zig exploded" in note and "MBU is not reported" in note and "\n" not in note


def test_a_run_faster_than_the_figure_probes_again_and_keeps_both(tmp_path: Path) -> None:
    import attrs

    from pocketbench.core.api.bandwidth import DecodeBytes, JobBandwidth
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.testing.backends import FakeBackend, registry_with

    lines: list[str] = []
    p = policy(tmp_path, lines)
    first = p.device_bandwidth(LocalDevice(), 1, [])
    assert first is not None
    # As if the first probe had read 1 GB/s (a busy minute): a run at 10 GB/s beats it.
    slow = attrs.evolve(first, samples_gbps={k: (1.0, 1.0, 1.0) for k in probe.KERNELS})
    stored = JobBandwidth(
        decode=DecodeBytes(weights_bytes=1_000_000_000, kv_bytes_per_position=0, source="t"),
        device=slow,
    )
    job = Job(backend="fake", quant="q", model="m", workload=Workload(threads=1))
    pm = registry_with(FakeBackend("fake", {"q": (10.0, 10.0)})).backend_manager("fake")
    newer = p.after_runs(pm, job, LocalDevice(), stored, [10.0, 9.0])
    assert newer is not None and not newer.cached and newer.measured_at > first.measured_at
    assert newer.reason == "a run read 10.0 GB/s, more than the figure of 1.0 GB/s"
    # A run below the figure probes nothing.
    assert p.after_runs(pm, job, LocalDevice(), stored, [0.5]) is None
