"""``bench devices`` for a lab: every listed server's phones, grouped by model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click


def list_by_model(servers: Sequence[str], as_json: bool) -> None:
    """Print the lab's phones by model (a pool's name is ``pool:MODEL``)."""
    from pocketbench.core.devices.lab import list_lab, parse_server

    phones = list_lab([parse_server(s, "--adb-server") for s in servers])
    by_model: dict[str, list] = {}
    for p in phones:
        key = p.model if p.state == "device" else f"(not usable: {p.state})"
        by_model.setdefault(key, []).append(p)
    if as_json:
        out = {
            model: [{"device": p.name, "state": p.state} for p in members]
            for model, members in sorted(by_model.items())
        }
        click.echo(json.dumps({"servers": list(servers), "models": out}, indent=2))
        return
    for model, members in sorted(by_model.items()):
        usable = not model.startswith("(")
        title = f"pool:{model}" if usable else model
        click.echo(f"{title}  ({len(members)} phone{'s' if len(members) != 1 else ''})")
        for p in members:
            click.echo(f"  {p.name:<44} {p.state}")
    if not phones:
        click.echo(f"(no phones attached to {', '.join(servers)})", err=True)
