"""``bench import FILE...``: store results a user already has (llama-bench tables, logs, JSON).

:func:`add_commands` adds the command to the main group.  The formats are
the backends' business (their ``pocketbench_import`` hook); this module only
reads the command line, calls :func:`pocketbench.core.results.imports.import_files`
and says what was stored.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from pocketbench.core.cli.common import db_option, echo_err, registry


def add_commands(cli: click.Group) -> None:
    """Add ``bench import`` to ``cli``."""

    @cli.command("import")
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
    @db_option
    @click.option(
        "--campaign",
        default=None,
        help="Store under this campaign (default: one per file, named after it).",
    )
    @click.option(
        "--device-label",
        default=None,
        help="Name of the device the file was measured on (default: what the file says).",
    )
    @click.option("--prompt-tokens", type=int, default=None, help="For files that do not say.")
    @click.option("--gen-tokens", type=int, default=None, help="For files that do not say.")
    @click.option("--threads", type=int, default=None, help="For files that do not say.")
    @click.pass_context
    def import_cmd(ctx: click.Context, files: tuple[str, ...], **kw: Any) -> None:
        """Store results you already have, beside measured ones.

        Reads llama-bench output (-o md, csv, json, jsonl, sql), llama-cli /
        llama-completion / llama-simple logs, ExecuTorch llama_main logs and
        the ExecuTorch benchmark app's JSON.  Every file is stored with its
        raw text and sha256, marked imported; importing it again adds
        nothing.  A bad file stops the command and nothing is stored.
        """
        from pocketbench.core.engine.imports import import_files
        from pocketbench.core.kit import checks
        from pocketbench.core.results.imports import WorkloadHints
        from pocketbench.core.results.store import Store

        # The checks bench run makes of the same names.
        for flag in ("campaign", "device_label"):
            if kw[flag] is not None:
                checks.text(f"--{flag.replace('_', '-')}", kw[flag])
        hints = WorkloadHints(
            prompt_tokens=kw["prompt_tokens"], gen_tokens=kw["gen_tokens"], threads=kw["threads"]
        )
        with Store.open(kw["db"]) as store:
            outcomes = import_files(
                store,
                registry(ctx),
                files,
                campaign=kw["campaign"],
                device_label=kw["device_label"],
                hints=hints,
                command=shlex.join(["bench", *sys.argv[1:]]),
                warn=echo_err,
            )
        for o in outcomes:
            if o.already:
                echo_err(f"{o.path}: already imported (campaign {o.campaign!r}); nothing added")
                continue
            parts = [f"{o.configs} configuration{'s' * (o.configs != 1)}"]
            if o.runs:
                parts.append(f"{o.runs} run{'s' * (o.runs != 1)}")
            if o.failed_runs:
                parts.append(f"{o.failed_runs} with impossible values kept as failed")
            if o.summaries:
                parts.append(f"{o.summaries} mean ± sd summar{'ies' if o.summaries != 1 else 'y'}")
            echo_err(f"{o.path}: {o.format}: {', '.join(parts)} -> campaign {o.campaign!r}")
