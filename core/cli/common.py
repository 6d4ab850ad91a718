"""What every ``bench`` command shares: the plugin registry, output, and common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pocketbench.core.api.errors import PocketbenchError, UsageError, unknown_choice

DEFAULT_DB = "pocketbench.db"


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def registry(ctx: click.Context) -> Any:
    """One plugin registry per command line, made by the main group's rules.

    ``--no-plugins`` (kept in the root context's ``obj``) and
    POCKETBENCH_DISABLE_PLUGINS keep only pocketbench's own plugins.
    """
    obj = ctx.find_root().ensure_object(dict)
    if "registry" not in obj:
        from pocketbench.core.engine.plugins import Registry

        obj["registry"] = Registry.from_entry_points(
            third_party=False if obj.get("no_plugins") else None, warn=echo_err
        )
    return obj["registry"]


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", default=DEFAULT_DB, show_default=True, help="Results database.")(f)


def plusminus_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--plusminus",
        type=click.Choice(["sd", "ci"]),
        default="sd",
        show_default=True,
        help="What ± means: sample standard deviation (the Galaxy A25 study's) or 95% CI half-width.",
    )(f)


def cooldown_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--cooldown",
        default="auto",
        show_default=True,
        help="Between runs: auto (wait for the temperature to settle), off, or SECONDS (0 to 3600).",
    )(f)


def target_ci_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--target-ci`` and ``--max-runs`` (adaptive sampling; a study adds whole rounds)."""
    f = click.option(
        "--max-runs",
        type=int,
        default=30,
        show_default=True,
        help="Upper bound of runs with --target-ci.",
    )(f)
    return click.option(
        "--target-ci",
        type=float,
        default=None,
        help="Keep running until the 95% CI half-width is within PCT of the mean.",
    )(f)


def no_wait_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--no-wait",
        is_flag=True,
        help="Exit at once (code 6) when another process measures the device or configuration.",
    )(f)


def write_output(output: str | None, text: str | bytes) -> None:
    """Write a document to standard output, or to ``output`` atomically.

    A failed write leaves the previous file as it was: a report is published
    whole or not at all.
    """
    if output is None or output == "-":
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
            sys.stdout.flush()
        else:
            click.echo(text, nl=not text.endswith("\n"))
        return
    from pocketbench.core.kit.cache import write_atomic

    path = Path(output)
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UsageError(
            f"cannot write --output {path}: {exc.strerror or exc}; the previous file is unchanged"
        ) from None
    echo_err(f"wrote {path}")


def format_for(names: list[str], fmt: str | None, output: str | None, extension: Any) -> str:
    """``--format``, else the reporter whose extension matches ``--output``, else markdown.

    ``extension(name)`` is the reporter's file extension.
    """
    if fmt is not None:
        if fmt not in names:
            raise unknown_choice("report format", fmt, names)
        return fmt
    if output and output != "-":
        suffix = Path(output).suffix.lstrip(".").lower()
        for name in names:
            try:
                if extension(name) == suffix:
                    return name
            except PocketbenchError:
                continue
    return "markdown"
