"""bench import of what the real tools built here print, captured during the test."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pocketbench.core.results.build import configurations
from pocketbench.core.results.names import short_name
from pocketbench.core.results.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tools_and_model() -> tuple[Path, Path]:
    import pluggy

    import pocketbench.core.engine.hookspecs as hs
    from pocketbench.backends.llamacpp import build, plugin
    from pocketbench.core.api.model import Job, Workload
    from pocketbench.core.devices.local import LocalDevice

    bin_dir = build.ensure_built()
    pm = pluggy.PluginManager("pocketbench")
    pm.add_hookspecs(hs)
    pm.register(plugin)
    job = Job(
        backend="llamacpp",
        quant="q4_0",
        model="tiny",
        workload=Workload(prompt_tokens=16, gen_tokens=8),
    )
    prepared = pm.hook.pocketbench_prepare(job=job, device=LocalDevice())
    return bin_dir, Path(prepared.describe["model_file"])


@pytest.mark.parametrize("fmt", ["md", "csv", "json", "jsonl", "sql"])
def test_real_llama_bench_output_imports(
    tools_and_model, run_bench, tmp_path: Path, fmt: str
) -> None:
    bin_dir, model = tools_and_model
    argv = [str(bin_dir / "llama-bench"), "-m", str(model), "-t", "2", "-p", "16", "-n", "8",
            "-r", "2", "-o", fmt]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    path = tmp_path / f"bench.{fmt}"
    path.write_text(out.stdout)
    r = run_bench("import", str(path), "--campaign", "real")
    assert r.returncode == 0, r.stderr
    with Store.open(tmp_path / "pocketbench.db", create=False) as store:
        (config,) = configurations(store, "real")
    assert (config.workload.prompt_tokens, config.workload.gen_tokens) == (16, 8)
    assert config.quant == "q4_0"
    if fmt in ("json", "jsonl"):
        rows = (
            [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
            if fmt == "jsonl"
            else json.loads(out.stdout)
        )
        pp = next(x for x in rows if x["n_prompt"])
        assert list(config.samples("prompt_tps")) == pp["samples_ts"]
    else:
        assert set(config.summaries) == {"prompt_tps", "generation_tps"}
        assert all(
            f"{s.mean:.2f}" in out.stdout or f"{s.mean:f}" in out.stdout
            for s in config.summaries.values()
        )


def test_real_llama_completion_log_imports(tools_and_model, run_bench, tmp_path: Path) -> None:
    bin_dir, model = tools_and_model
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Once upon a time there was a")
    argv = [str(bin_dir / "llama-completion"), "-m", str(model), "-f", str(prompt), "-n", "8", "-t", "2",
            "--temp", "0", "--ignore-eos", "-no-cnv", "--no-display-prompt"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, errors="replace")
    assert out.returncode == 0, out.stderr[-500:]
    log = tmp_path / "completion.log"
    log.write_text(out.stderr)
    r = run_bench("import", str(log))
    assert r.returncode == 0, r.stderr
    with Store.open(tmp_path / "pocketbench.db", create=False) as store:
        (config,) = configurations(store)
    (run,) = config.ok_runs
    assert config.workload.gen_tokens == 8 and config.workload.threads == 2
    # The tool's own rate, from its unrounded time; ours is from the printed (0.01 ms) time.
    m = re.search(
        r"(?<!prompt )eval time =\s*([\d.]+) ms /\s*\d+ runs.*?([\d.]+) tokens per second",
        out.stderr,
    )
    eval_ms, printed = float(m[1]), float(m[2])
    assert abs(run.metrics.generation_tps - printed) <= printed * (0.005 / eval_ms) * 1.01 + 0.01


def test_findings_and_compare_show_an_import_beside_the_measured_configuration(
    tools_and_model, run_bench, tmp_path: Path
) -> None:
    """Issue 16: an imported llama-bench run of the same model, in the findings and in compare."""
    bin_dir, model = tools_and_model
    argv = [str(bin_dir / "llama-bench"), "-m", str(model), "-t", "2", "-pg", "16,8",
            "-p", "0", "-n", "0", "-r", "3", "-o", "json"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=True)
    path = tmp_path / "from-the-phone-team.json"
    path.write_text(out.stdout)
    r = run_bench("import", str(path), "--campaign", "theirs")
    assert r.returncode == 0, r.stderr
    study = tmp_path / "ours.toml"
    study.write_text(
        'name = "ours"\nmodels = ["tiny"]\nruns = 3\nwarmup = 1\nimports = ["theirs"]\n'
        "[workload]\nprompt_tokens = 16\ngen_tokens = 8\nthreads = 2\n"
        '[[framework]]\nbackend = "llamacpp"\nquants = ["q4_0"]\n'
    )
    findings = tmp_path / "findings.md"
    r = run_bench("study", str(study), "-o", str(findings), "--cooldown", "off")
    assert r.returncode == 0, r.stderr
    text = findings.read_text().replace("\\", "")
    import hashlib

    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert "## Imported: theirs" in text and "Imported Results (theirs)" in text
    label = f"llamacpp q4_0 p16/g8 (imported, {model.name})"
    sources = text.split("### Sources\n", 1)[1].split("\n#", 1)[0]
    rows = [
        [c.strip() for c in r.strip("|").split("|")]
        for r in sources.splitlines()
        if r.startswith("|")
    ]
    assert rows[0][-1] == "Compared with"
    (row,) = rows[2:]
    assert row[:4] == [short_name(label), short_name(str(path)), "llama-bench json", sha]
    assert row[4] == "llamacpp Q4_0"  # the measured twin, not an imported one
    assert "never pooled with them" in text  # the caveat
    with Store.open(tmp_path / "pocketbench.db", create=False) as store:
        (theirs,) = configurations(store, "theirs")
    total = theirs.summary("total_tps").mean
    assert f"{total:.2f}" in text  # the imported figure itself, in its table
    # bench compare pairs the measured configuration with the imported one, and says so
    cmp = run_bench("compare", "ours", "theirs", "--json")
    assert cmp.returncode == 0, cmp.stderr
    result = json.loads(cmp.stdout)
    (paired,) = result["paired_across_import"]
    assert "the same backend, scheme, workload and model file" in paired
    assert not result["only_old"] and not result["only_new"]
    (change,) = [c for c in result["changes"] if c["metric"] == "total_tps"]
    assert float(change["new_mean"]) == pytest.approx(total, abs=0.01)
