"""Every `bench` command shown in README.md and docs/ is checked against the CLI.

Each command is parsed by the real command line (unknown options, bad
values and unknown subcommands fail), its backend, quantization and report
format are checked against the installed plugins, study files are loaded,
and the cheap ones (local host, `tiny` model) are run for real.
"""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from pocketbench.core.api.presets import PRESETS
from pocketbench.core.cli.main import build_cli
from pocketbench.core.engine.plugins import Registry
from pocketbench.core.kit.realmodels import REAL_MODELS

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def doc_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for block in FENCE.findall(path.read_text()):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("bench ") or line == "bench":
                    command = line.split("  #")[0].strip()
                    found.append((f"{path.name}: {command}", command))
    return found


COMMANDS = doc_commands()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) >= 15


def resolve(args: list[str]) -> tuple[str, dict]:
    cli = build_cli()
    with cli.make_context("bench", list(args)) as ctx, warnings.catch_warnings():
        # click 8.2 deprecates protected_args (merged into args in click 9)
        warnings.simplefilter("ignore", DeprecationWarning)
        words = [*ctx.protected_args, *ctx.args]
        sub, rest = words[0], words[1:]
        cmd = cli.get_command(ctx, sub)
        assert cmd is not None, f"no subcommand {sub}"
        with cmd.make_context(sub, list(rest), parent=ctx) as sub_ctx:
            return sub, dict(sub_ctx.params)


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_doc_command_parses_and_names_real_things(where: str, command: str) -> None:
    args = shlex.split(command)[1:]
    try:
        sub, params = resolve(args)
    except click.ClickException as exc:
        pytest.fail(f"{where}: {exc.format_message()}")
    registry = Registry.from_entry_points(warn=lambda m: None)
    if sub == "run":
        info = registry.backend_info(params["backend"])
        if params["quant"]:
            assert info.scheme(params["quant"]), f"{where}: unknown quant {params['quant']}"
        model = params["model"]
        known = model in PRESETS or model in REAL_MODELS
        assert known or "/" in model, f"{where}: {model} is neither preset nor path"
    elif sub == "report" and params.get("format"):
        assert params["format"] in registry.reporter_names()
    elif sub == "study":
        from pocketbench.core.analysis.study import load_study

        load_study(
            REPO / params["file"] if not Path(params["file"]).is_absolute() else params["file"]
        )


CHEAP = [
    (w, c)
    for w, c in COMMANDS
    if " --model tiny" in c and "--device" not in c and c.startswith("bench --backend llamacpp")
]


@pytest.mark.slow
@pytest.mark.parametrize(("where", "command"), CHEAP, ids=[w for w, _ in CHEAP])
def test_cheap_doc_commands_really_run(where: str, command: str, tmp_path, run_bench) -> None:
    r = run_bench(*shlex.split(command)[1:], "--cooldown", "off")
    assert r.returncode == 0, f"{where}: {r.stderr}"
    assert "Generation Speed (tokens/second)" in r.stdout


@pytest.mark.slow
def test_the_embedded_default_runs_a_real_benchmark(run_bench) -> None:
    """`make bench` runs bare `bench`: llama.cpp, synthetic stories110m, this host."""
    r = run_bench("--runs", "2", "--warmup", "0", "--cooldown", "off")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\|\s+llamacpp Baseline\s+\|", r.stdout), r.stdout
    assert re.search(r"Generation Speed \(tokens/second\)\s+\|\s+[0-9.]+ ± [0-9.]+", r.stdout)
