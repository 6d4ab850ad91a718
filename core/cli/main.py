"""The ``bench`` command line (also ``pocketbench`` and ``python -m pocketbench``)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from pocketbench.core.api.errors import ExitCode, PocketbenchError, UsageError, unknown_choice

DEFAULT_BACKEND = "llamacpp"
DEFAULT_MODEL = "stories110m"

EPILOG = "Exit codes: " + ", ".join(f"{c.value} {c.name.lower()}" for c in ExitCode) + "."


class DefaultRunGroup(click.Group):
    """``bench --backend X ...`` and bare ``bench`` mean ``bench run ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        group_only = {"--version", "--no-plugins"}
        head = [a for a in args if a in group_only]
        rest = [a for a in args if a not in group_only]
        if rest in (["--help"], ["-h"]) or "--version" in head:
            return super().parse_args(ctx, args)
        if not rest or rest[0] not in self.commands:
            args = [*head, "run", *rest]
        return super().parse_args(ctx, args)


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _registry(ctx: click.Context) -> Any:
    obj = ctx.ensure_object(dict)
    if "registry" not in obj:
        from pocketbench.core.engine.plugins import Registry

        obj["registry"] = Registry.from_entry_points(
            third_party=False if obj.get("no_plugins") else None, warn=_echo_err
        )
    return obj["registry"]


def _parse_options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r}: write it as KEY=VALUE")
        options[key.strip().replace("-", "_")] = value
    return options


def build_cli() -> click.Group:
    """Build the command group; plugins are discovered when a command runs."""

    @click.group(
        cls=DefaultRunGroup,
        epilog=EPILOG,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    @click.version_option(package_name="pocketbench")
    @click.option(
        "--no-plugins",
        is_flag=True,
        help="Load only pocketbench's own plugins (also POCKETBENCH_DISABLE_PLUGINS=1).",
    )
    @click.pass_context
    def cli(ctx: click.Context, no_plugins: bool) -> None:
        """Benchmark on-device LLM inference: tokens per second with their uncertainty.

        Without a command, runs one configuration (`bench run`), e.g.

            bench --backend llamacpp --quant q4_0 --model llama-3.2-1b

        Every run is stored in a SQLite file (--db, default pocketbench.db) the
        moment it ends; `bench report` renders what is stored.
        """
        ctx.ensure_object(dict)["no_plugins"] = no_plugins

    @cli.command("run", epilog=EPILOG)
    @click.option(
        "--backend",
        "-b",
        default=DEFAULT_BACKEND,
        show_default=True,
        help="Backend plugin (`bench plugins` lists them).",
    )
    @click.option(
        "--quant",
        "-q",
        default=None,
        help="Quantization scheme of the backend (default: the backend's baseline).",
    )
    @click.option(
        "--model",
        "-m",
        default=DEFAULT_MODEL,
        show_default=True,
        help="Synthetic preset (tiny, stories110m, llama-3.2-1b) or a model file path.",
    )
    @click.option(
        "--device",
        "-d",
        "devices",
        multiple=True,
        help="local (default), adb, adb:SERIAL or adb://HOST:PORT/SERIAL; repeat for several.",
    )
    @click.option("--runs", "-n", type=int, default=8, show_default=True, help="Measured runs.")
    @click.option(
        "--warmup",
        type=int,
        default=1,
        show_default=True,
        help="Warm-up runs (stored, not counted).",
    )
    @click.option("--prompt-tokens", type=int, default=64, show_default=True)
    @click.option(
        "--gen-tokens",
        type=int,
        default=64,
        show_default=True,
        help="New tokens per run (end of sequence ignored).",
    )
    @click.option(
        "--threads",
        "-t",
        type=int,
        default=None,
        help="CPU threads [default: the device's cores, at most 4].",
    )
    @click.option("--prompt", default=None, help="Prompt text (made exactly --prompt-tokens long).")
    @click.option(
        "--timeout",
        type=float,
        default=600.0,
        show_default=True,
        help="Seconds one run may take before it is stopped.",
    )
    @click.option("--db", default="pocketbench.db", show_default=True, help="Results database.")
    @click.option(
        "--campaign",
        default=None,
        help="Store under this campaign name; re-running it resumes (default: a new one).",
    )
    @click.option("--llamacpp-bin", default=None, help="Directory of your own llama.cpp build.")
    @click.option("--llama-main", default=None, help="ExecuTorch llama_main binary (for a phone).")
    @click.option("--tokenizer", default=None, help="Tokenizer file for a .pte model.")
    @click.option("--crosscheck", is_flag=True, help="Also run the runtime's own benchmark tool.")
    @click.option(
        "--option", "-O", "extra_options", multiple=True, help="Backend option KEY=VALUE."
    )
    @click.option(
        "--cooldown",
        default="auto",
        show_default=True,
        help="Between runs: auto (wait for the temperature to settle), off, or SECONDS.",
    )
    @click.option(
        "--bandwidth/--no-bandwidth",
        default=True,
        show_default=True,
        help="Measure the device's memory bandwidth (cached per device) and report MBU.",
    )
    @click.option(
        "--remeasure-bandwidth",
        is_flag=True,
        help="Measure the memory bandwidth again instead of using the cached figure.",
    )
    @click.option(
        "--target-ci",
        type=float,
        default=None,
        help="Keep running until the 95% CI half-width is within PCT of the mean.",
    )
    @click.option(
        "--max-runs",
        type=int,
        default=30,
        show_default=True,
        help="Upper bound of runs with --target-ci.",
    )
    @click.pass_context
    def run_cmd(ctx: click.Context, **kw: Any) -> None:
        """Run one configuration on one or more devices and print mean ± sd."""
        from pocketbench.core.engine.plan import run_command

        code = run_command(_registry(ctx), kw, command=shlex.join(sys.argv[1:]), echo=_echo_err)
        ctx.exit(int(code))

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
        """List backends with their quantization schemes, reporters, and broken plugins."""
        from pocketbench.core.engine.plugins import BACKENDS, REPORTERS

        registry = _registry(ctx)
        registry.warn = lambda message: None  # failures are part of the listing
        data: dict[str, Any] = {"backends": [], "reporters": [], "failed": []}
        for name in registry.backend_names():
            source = registry.sources[BACKENDS][name]
            try:
                info = registry.backend_info(name)
            except PocketbenchError as exc:
                data["failed"].append(
                    {
                        "group": "backend",
                        "name": name,
                        "distribution": source.distribution,
                        "error": str(exc),
                    }
                )
                continue
            data["backends"].append(
                {
                    "name": name,
                    "distribution": source.distribution,
                    "version": info.version,
                    "description": info.description,
                    "default_quant": info.default_scheme,
                    "quants": [
                        {
                            "name": s.name,
                            "description": s.description,
                            "produced_by": s.produced_by,
                            "aliases": list(s.aliases),
                        }
                        for s in info.schemes
                    ],
                }
            )
        for name in registry.reporter_names():
            source = registry.sources[REPORTERS][name]
            try:
                rinfo = registry.reporter_info(name)
            except PocketbenchError as exc:
                data["failed"].append(
                    {
                        "group": "reporter",
                        "name": name,
                        "distribution": source.distribution,
                        "error": str(exc),
                    }
                )
                continue
            data["reporters"].append(
                {
                    "name": name,
                    "distribution": source.distribution,
                    "description": rinfo.description,
                    "extension": rinfo.extension,
                }
            )
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        click.echo("Backends:")
        for b in data["backends"]:
            click.echo(f"  {b['name']} {b['version']} ({b['distribution']}): {b['description']}")
            for q in b["quants"]:
                default = " [default]" if q["name"] == b["default_quant"] else ""
                click.echo(f"    --quant {q['name']}{default}: {q['description']}")
        click.echo("Reporters:")
        for r in data["reporters"]:
            click.echo(
                f"  {r['name']} (.{r['extension']}, {r['distribution']}): {r['description']}"
            )
        if data["failed"]:
            click.echo("Failed to load:")
            for f in data["failed"]:
                click.echo(f"  {f['group']} {f['name']} ({f['distribution']}): {f['error']}")

    try:
        from pocketbench.core.cli.report import add_commands
    except ImportError:  # pragma: no cover - while the reporting module is absent
        pass
    else:
        add_commands(cli)
    try:
        from pocketbench.core.cli.devices import add_commands as add_device_commands
    except ImportError:  # pragma: no cover
        pass
    else:
        add_device_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bench``; returns the exit code (tests call it directly)."""
    cli = build_cli()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="bench", standalone_mode=False
        )
    except PocketbenchError as exc:
        _echo_err(f"error: {exc}")
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        _echo_err("interrupted")
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        _echo_err(f"error: {exc.format_message()} (see bench --help)")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        _echo_err("interrupted; every run finished so far is stored")
        return int(ExitCode.INTERRUPTED)
    return int(result or 0) if isinstance(result, int) else 0


__all__ = ["build_cli", "main", "unknown_choice"]
