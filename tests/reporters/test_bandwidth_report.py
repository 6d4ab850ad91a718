"""MBU in every report: the figures stored with a job become the same numbers in every format.

The stored halves are fabricated (bytes per decode step, probe trials);
what is checked is the arithmetic a user can redo, the JSON contract, and
that a missing half is said, not hidden.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
from pathlib import Path

import attrs
import pytest

from pocketbench.core.api.bandwidth import DecodeBytes, DeviceBandwidth, JobBandwidth
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.results import bandwidth
from pocketbench.core.results.build import build_report, configurations
from pocketbench.core.results.report import ReportOptions
from pocketbench.core.results.schema import SCHEMA_VERSION
from pocketbench.core.results.store import Store
from pocketbench.testing.fabricated import add_config, compile_latex

WEIGHTS, KV = 700_000_000, 32_768
DEVICE = (9.0, 10.0, 11.0, 10.5, 9.5)  # GB/s, the probe's read trials
GENS = [11.0, 12.0, 11.5, 12.5]


def stored(
    *, device: bool = True, notes: tuple[str, ...] = (), cpus: tuple[int, ...] = ()
) -> JobBandwidth:
    probe = DeviceBandwidth(
        threads=2,
        cpus=cpus,
        placement="big" if cpus else "",
        buffer_bytes=128 << 20,
        samples_gbps={"read": DEVICE, "copy": DEVICE, "triad": DEVICE},
        limit_gbps=500.0,
        toolchain="cc (host)",
    )
    decode = DecodeBytes(weights_bytes=WEIGHTS, kv_bytes_per_position=KV, source="test")
    return JobBandwidth(decode=decode, device=probe if device else None, notes=notes)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bw.db"
    with Store.open(path) as s:
        s.campaign("c")
        add_config(
            s, backend="llamacpp", quant="q4_0", model="m", gens=GENS,
            bandwidth=stored(cpus=(6, 7)),  # measured on the big cores, as the job ran
        )  # fmt: skip
        add_config(
            s, backend="llamacpp", quant="q8_0", model="m", gens=GENS,
            bandwidth=stored(device=False, notes=("the bandwidth probe cannot run on local: x",)),
        )  # fmt: skip
        add_config(s, backend="executorch", quant="baseline", model="m", gens=GENS)  # older results
    return path


def configs(registry: Registry, db: Path) -> list[dict]:
    with Store.open(db, create=False) as s:
        text = registry.render("json", build_report(s, "c"), ReportOptions())
    return json.loads(text)["configurations"]


def test_json_bandwidth_is_the_arithmetic_of_what_was_stored(registry: Registry, db: Path) -> None:
    full, no_probe, old = (c["bandwidth"] for c in configs(registry, db))
    context = 64 + (32 + 1) / 2  # the fabricated workload: 64 prompt, 32 generated tokens
    per_token = WEIGHTS + KV * context
    assert full["bytes_per_token"] == pytest.approx(per_token)
    achieved = per_token * sum(GENS) / len(GENS) / 1e9
    assert full["achieved_gbps"] == pytest.approx(achieved)
    # The device figure is the best half of the probe's trials (none is marked descheduled).
    assert full["device_gbps"] == pytest.approx(statistics.fmean(sorted(DEVICE)[-3:]))
    assert set(full["mbu"]) == {"mean", "ci95"}
    assert full["mbu"]["mean"] == pytest.approx(achieved / full["device_gbps"])
    low, high = full["mbu"]["ci95"]
    assert low < full["mbu"]["mean"] < high
    assert full["ceiling_tps"] == pytest.approx(full["device_gbps"] * 1e9 / per_token)
    assert full["probe"]["cpus"] == [6, 7]
    assert full["probe"]["placement"] == {"asked": "big", "text": "big (cores 6-7, mask c0)"}
    # Without a probe figure: the bytes and achieved bandwidth stay, MBU is null, the note says why.
    assert no_probe["bytes_per_token"] == pytest.approx(per_token)
    assert no_probe["device_gbps"] is None and no_probe["mbu"] is None
    assert no_probe["ceiling_tps"] is None
    assert no_probe["notes"] == ["the bandwidth probe cannot run on local: x"]
    assert old is None


def test_markdown_has_the_bandwidth_table_and_the_reason_a_figure_is_missing(
    registry: Registry, db: Path
) -> None:
    with Store.open(db, create=False) as s:
        text = registry.render("markdown", build_report(s, "c"), ReportOptions())
    table = text[text.index("# Memory bandwidth") :]
    mbu_row = next(line for line in table.splitlines() if line.startswith("| MBU"))
    cells = [c.strip() for c in mbu_row.strip("|").split("|")]
    assert re.fullmatch(r"\d+% \(\d+ to \d+%\)", cells[1])
    assert cells[2:] == ["n/a", "n/a"]
    placed = next(line for line in table.splitlines() if line.startswith("| Probe placement"))
    assert [c.strip() for c in placed.strip("|").split("|")][1:] == [
        "2 threads, big (cores 6-7, mask c0)",
        "n/a",
        "n/a",
    ]
    assert "Bandwidth: the bandwidth probe cannot run on local: x" in text


def test_latex_bandwidth_table_compiles(registry: Registry, db: Path, tmp_path: Path) -> None:
    with Store.open(db, create=False) as s:
        tex = registry.render("latex", build_report(s, "c"), ReportOptions(plusminus="ci"))
    assert "Memory bandwidth" in tex
    assert "Bandwidth: the bandwidth probe cannot run on local: x" in tex  # the missing half, said
    compile_latex(tex, tmp_path)


def test_html_has_the_roofline_plot(registry: Registry, db: Path) -> None:
    with Store.open(db, create=False) as s:
        page = registry.render("html", build_report(s, "c"), ReportOptions())
    assert "<h2>Memory bandwidth</h2>" in page
    assert re.search(
        r'alt="Generation speed against bytes read per token[^"]*" src="data:image/png;base64,',
        page,
    )


def test_findings_sentence_names_the_phone_and_the_ceiling() -> None:
    from pocketbench.core.api.model import Workload

    b = bandwidth.summarize_bandwidth(stored(), Workload(prompt_tokens=64, gen_tokens=32), GENS)
    line = bandwidth.sentence("Q4_0", b, "adb")
    assert line is not None
    assert re.fullmatch(
        r"Q4_0 decodes at \d+% \(95% CI \d+ to \d+%\) of this phone's measured memory bandwidth"
        r" \(ceiling ≈ \d+ tok/s\)\.",
        line,
    )
    assert "this host's" in (bandwidth.sentence("Q4_0", b, "local") or "")
    pinned = bandwidth.summarize_bandwidth(
        stored(cpus=(6, 7)), Workload(prompt_tokens=64, gen_tokens=32), GENS
    )
    said = bandwidth.sentence("Q4_0", pinned, "adb") or ""
    assert "of this phone's measured memory bandwidth on cores 6-7 (big) (ceiling" in said


def test_a_decode_faster_than_the_device_figure_is_an_inconsistency_never_above_100(
    registry: Registry, tmp_path: Path
) -> None:
    from pocketbench.core.api.model import Workload

    workload = Workload(prompt_tokens=64, gen_tokens=32)
    b = bandwidth.summarize_bandwidth(stored(), workload, GENS)
    assert b is not None and b.mbu is not None and b.ceiling_tps is not None
    # Generation this much faster than the ceiling reads 50% more than the probe did.
    fast = [g * 1.5 * b.ceiling_tps / 11.75 for g in GENS]
    over = bandwidth.summarize_bandwidth(stored(), workload, fast)
    assert over is not None and over.mbu is not None and over.mbu.ci[0] > 1
    v = bandwidth.verdict(over, "llamacpp F16")
    assert v.kind == "inconsistent"
    assert v.reason.startswith("measurement inconsistency: llamacpp F16 read")
    assert "likely cause:" in v.reason and "\n" not in v.reason
    line = bandwidth.sentence("llamacpp F16", over, "local") or ""
    assert "ceiling" not in line and not re.search(r"\b(1\d\d|[2-9]\d\d)%", line)
    # Within the joint interval: at the device figure, still no percentage above 100.
    near = [g * 1.02 * b.ceiling_tps / 11.75 for g in GENS]
    at = bandwidth.summarize_bandwidth(stored(), workload, near)
    assert at is not None and at.mbu is not None and at.mbu.estimate > 1 > at.mbu.ci[0]
    assert bandwidth.verdict(at).text.startswith("100% (at the device figure")
    # The rendered report says it once, under the configuration, and quotes no percentage above 100.
    path = tmp_path / "over.db"
    with Store.open(path) as s:
        s.campaign("c")
        add_config(s, backend="llamacpp", quant="f16", model="m", gens=fast, bandwidth=stored())
    with Store.open(path, create=False) as s:
        text = registry.render("markdown", build_report(s, "c"), ReportOptions())
    assert text.count("measurement inconsistency: ") == 1
    assert "inconsistent (see note)" in text
    assert not re.search(r"\b(1\d\d|[2-9]\d\d)% ", text.replace("100% ", ""))


def test_a_decode_step_that_fits_the_cache_gets_no_mbu() -> None:
    from pocketbench.core.api.model import Workload

    small = attrs.evolve(
        stored(), decode=DecodeBytes(weights_bytes=60_000_000, kv_bytes_per_position=KV, source="t")
    )
    probe = attrs.evolve(small.device, llc_bytes=32 << 20)  # this host's 32 MiB L3
    b = bandwidth.summarize_bandwidth(
        attrs.evolve(small, device=probe), Workload(prompt_tokens=64, gen_tokens=32), GENS
    )
    v = bandwidth.verdict(b, "stories110m Q4_0")
    assert v.kind == "cache-resident" and v.text == "cache-resident: MBU not meaningful"
    assert "within 4x of the 32 MiB last-level cache" in v.reason
    big = bandwidth.summarize_bandwidth(
        attrs.evolve(stored(), device=probe), Workload(prompt_tokens=64, gen_tokens=32), GENS
    )
    assert bandwidth.verdict(big).kind == "mbu"  # 700 MB is 20x the cache


def test_a_later_probe_is_shown_beside_the_first_and_the_better_one_judges() -> None:
    from pocketbench.core.api.model import Workload

    first = stored()
    assert first.device is not None
    end = attrs.evolve(
        first.device, samples_gbps={k: (20.0, 21.0, 19.0) for k in ("read", "copy", "triad")},
        measured_at=first.device.measured_at + 3600, reason="the study's end", load_avg=0.4,
    )  # fmt: skip
    b = bandwidth.summarize_bandwidth(
        attrs.evolve(first, later=(end,)), Workload(prompt_tokens=64, gen_tokens=32), GENS
    )
    assert b is not None and b.device is not None and b.device.mean == pytest.approx(20.5)
    header, rows = bandwidth.table_rows([("q4_0", b)], "sd") or ([], [])
    probes = next(r for r in rows if r[0].startswith("Probes"))[1]
    assert "10.5 ± 0.5 GB/s at 1970-01-01 00:00 UTC" in probes
    assert "20.5 ± 0.7 GB/s at 1970-01-01 01:00 UTC, load 0.4 (the study's end)" in probes


def test_a_results_file_from_before_bandwidth_gains_the_column(tmp_path: Path) -> None:
    from pocketbench.core.results.schema import _MIGRATIONS

    step = next(v for v, sql in _MIGRATIONS.items() if "bandwidth" in str(sql))
    path = tmp_path / "old.db"
    with Store.open(path) as s:
        s.campaign("c")
        add_config(s, backend="llamacpp", quant="q4_0", model="m", gens=GENS)
    with sqlite3.connect(path) as c:
        # Back to the schema before it, as an older pocketbench wrote it: the columns
        # of this step and of every later one go, so each migration runs once again.
        for version, sql in sorted(_MIGRATIONS.items()):
            if version >= step and isinstance(sql, str):
                for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", sql):
                    c.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        c.execute(f"PRAGMA user_version = {step - 1}")
    with Store.open(path) as s:
        (config,) = configurations(s, "c")
        assert config.bandwidth is None and len(config.ok_runs) == len(GENS)
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "bandwidth" in {row[1] for row in c.execute("PRAGMA table_info(jobs)")}


def test_html_without_bytes_per_token_has_the_table_and_no_plot(
    registry: Registry, tmp_path: Path
) -> None:
    # A backend without pocketbench_decode_bytes: the device's figure only, no roofline to draw.
    path = tmp_path / "nobytes.db"
    no_bytes = JobBandwidth(
        device=stored().device, notes=("the fake backend does not say how many bytes",)
    )
    with Store.open(path) as s:
        s.campaign("c")
        add_config(s, backend="llamacpp", quant="q4_0", model="m", gens=GENS, bandwidth=no_bytes)
    with Store.open(path, create=False) as s:
        page = registry.render("html", build_report(s, "c"), ReportOptions())
    assert "<h2>Memory bandwidth</h2>" in page and "does not say how many bytes" in page
    assert "Generation speed against bytes read per token" not in page
