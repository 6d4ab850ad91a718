"""The ``bench`` command line (also ``pocketbench`` and ``python -m pocketbench``).

One module per command (:mod:`~pocketbench.core.cli.run`, ``plugins``,
``report``, ``study``, ``compare``, ``devices``); this module assembles them.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from pocketbench.core.api.errors import ExitCode, PocketbenchError
from pocketbench.core.cli import compare, devices, plugins, report, run, study
from pocketbench.core.cli.common import echo_err

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

    run.add_commands(cli, EPILOG)
    plugins.add_commands(cli)
    report.add_commands(cli)
    study.add_commands(cli)
    compare.add_commands(cli)
    devices.add_commands(cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bench``; returns the exit code (tests call it directly)."""
    cli = build_cli()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="bench", standalone_mode=False
        )
    except PocketbenchError as exc:
        echo_err(f"error: {exc}")
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        echo_err("interrupted")
        return int(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        echo_err(f"error: {exc.format_message()} (see bench --help)")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        echo_err("interrupted; every run finished so far is stored")
        return int(ExitCode.INTERRUPTED)
    return int(result or 0) if isinstance(result, int) else 0
