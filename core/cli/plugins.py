"""``bench plugins``: backends with their schemes and options, reporters, broken plugins."""

from __future__ import annotations

import json
from typing import Any

import click

from pocketbench.core.api.errors import PocketbenchError
from pocketbench.core.cli.common import registry


def listing(reg: Any) -> dict[str, Any]:
    """Everything ``bench plugins`` shows, as plain data (the ``--json`` form)."""
    from pocketbench.core.engine.plugins import BACKENDS, REPORTERS

    data: dict[str, Any] = {"backends": [], "reporters": [], "failed": []}

    def failed(group: str, name: str, source: Any, exc: Exception) -> None:
        data["failed"].append(
            {"group": group, "name": name, "distribution": source.distribution, "error": str(exc)}
        )

    for name in reg.backend_names():
        source = reg.sources[BACKENDS][name]
        try:
            info = reg.backend_info(name)
        except PocketbenchError as exc:
            failed("backend", name, source, exc)
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
                "metrics": [
                    {"name": m.name, "label": m.label, "unit": m.unit} for m in info.metrics
                ],
            }
        )
    for name in reg.reporter_names():
        source = reg.sources[REPORTERS][name]
        try:
            rinfo = reg.reporter_info(name)
        except PocketbenchError as exc:
            failed("reporter", name, source, exc)
            continue
        data["reporters"].append(
            {
                "name": name,
                "distribution": source.distribution,
                "description": rinfo.description,
                "extension": rinfo.extension,
            }
        )
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
            for o in b["options"]:
                how = o["flag"] or f"-O {o['name']}=VALUE"
                if o["flag"] and not o["switch"]:
                    how += " VALUE"
                click.echo(f"    {how}: {o['help']}")
        click.echo("Reporters:")
        for r in data["reporters"]:
            click.echo(
                f"  {r['name']} (.{r['extension']}, {r['distribution']}): {r['description']}"
            )
        if data["failed"]:
            click.echo("Failed to load:")
            for f in data["failed"]:
                click.echo(f"  {f['group']} {f['name']} ({f['distribution']}): {f['error']}")
