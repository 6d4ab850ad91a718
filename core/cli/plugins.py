"""``bench plugins``: backends with their schemes and options, reporters, broken plugins."""

from __future__ import annotations

import json
from typing import Any

import click

from pocketbench.core.api.errors import PocketbenchError
from pocketbench.core.cli.common import registry


def _backend(name: str, distribution: str, info: Any) -> dict[str, Any]:
    return {
        "name": name,
        "distribution": distribution,
        "version": info.version,
        "description": info.description,
        "default_quant": info.default_scheme,
        "quants": [
            {
                "name": s.name,
                "label": s.display,
                "description": s.description,
                "produced_by": s.produced_by,
                "aliases": list(s.aliases),
            }
            for s in info.schemes
        ],
        "options": [
            {
                "name": o.name,
                "flag": o.flag,
                "help": o.help,
                "switch": o.is_flag,
                "choices": list(o.choices),
            }
            for o in info.options
        ],
        "metrics": [{"name": m.name, "label": m.label, "unit": m.unit} for m in info.metrics],
        "imports": list(info.imports),
    }


def _reporter(name: str, distribution: str, info: Any) -> dict[str, Any]:
    return {
        "name": name,
        "distribution": distribution,
        "description": info.description,
        "extension": info.extension,
    }


def listing(reg: Any) -> dict[str, Any]:
    """Everything ``bench plugins`` shows, as plain data (the ``--json`` form)."""
    from pocketbench.core.engine.plugins import BACKENDS, REPORTERS

    data: dict[str, Any] = {"backends": [], "reporters": [], "failed": []}
    kinds = (
        ("backend", BACKENDS, reg.backend_names, reg.backend_info, _backend),
        ("reporter", REPORTERS, reg.reporter_names, reg.reporter_info, _reporter),
    )
    for kind, group, names, info_of, describe in kinds:
        for name in names():
            distribution = reg.sources[group][name].distribution
            try:
                info = info_of(name)
            except PocketbenchError as exc:
                data["failed"].append(
                    {"group": kind, "name": name, "distribution": distribution, "error": str(exc)}
                )
                continue
            data[f"{kind}s"].append(describe(name, distribution, info))
    return data


def add_commands(group: click.Group) -> None:
    @group.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.pass_context
    def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
        """List backends with their quantization schemes and options, reporters, broken plugins."""
        reg = registry(ctx)
        reg.warn = lambda message: None  # failures are part of the listing
        data = listing(reg)
        if as_json:
            click.echo(json.dumps(data, indent=2))
            return
        click.echo("Backends:")
        for b in data["backends"]:
            click.echo(f"  {b['name']} {b['version']} ({b['distribution']}): {b['description']}")
            for q in b["quants"]:
                default = " [default]" if q["name"] == b["default_quant"] else ""
                click.echo(f"    --quant {q['name']}{default}: {q['description']}")
                if q["aliases"]:
                    click.echo(f"      also: {', '.join(q['aliases'])}")
                if q["produced_by"]:
                    click.echo(f"      produced by: {q['produced_by']}")
            for o in b["options"]:
                how = o["flag"] or f"-O {o['name']}=VALUE"
                if o["flag"] and not o["switch"]:
                    how += " VALUE"
                click.echo(f"    {how}: {o['help']}")
            for fmt in b["imports"]:
                click.echo(f"    bench import reads: {fmt}")
        click.echo("Reporters:")
        for r in data["reporters"]:
            click.echo(
                f"  {r['name']} (.{r['extension']}, {r['distribution']}): {r['description']}"
            )
        if data["failed"]:
            click.echo("Failed to load:")
            for f in data["failed"]:
                click.echo(f"  {f['group']} {f['name']} ({f['distribution']}): {f['error']}")
