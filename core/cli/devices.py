"""``bench devices``: this host and every phone the adb server knows, with their facts."""

from __future__ import annotations

import json
from typing import Any

import click

from pocketbench.core.api.errors import DeviceError


def _fmt_facts(f: Any) -> str:
    ram = f"{f.ram_bytes / 2**30:.1f} GiB RAM" if f.ram_bytes else "RAM unknown"
    freqs = f", max {max(f.max_freqs_khz) / 1e6:.2f} GHz" if f.max_freqs_khz else ""
    who = " ".join(x for x in (f.manufacturer, f.model) if x) or f.name
    return f"{who}; {f.soc or 'SoC unknown'}; {f.abi}; {f.os}; {f.cores} cores{freqs}; {ram}"


def add_commands(group: click.Group) -> None:
    @group.command("devices")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option(
        "--adb-server",
        "adb_servers",
        multiple=True,
        metavar="HOST:PORT",
        help="A remote adb server (device labs); repeat for every host of a lab, whose"
        " phones are then listed by model; default: the local one.",
    )
    @click.option(
        "--lab",
        "lab_study",
        default=None,
        metavar="STUDY",
        help="List the phones of the servers a study file's [lab] table names, by model.",
    )
    def devices_cmd(as_json: bool, adb_servers: tuple[str, ...], lab_study: str | None) -> None:
        """List devices (the local host and attached phones) with their facts."""
        from pocketbench.core.devices.adb import describe_attached
        from pocketbench.core.devices.local import LocalDevice
        from pocketbench.core.kit.convert import unstructure

        servers = list(adb_servers)
        if lab_study:
            from pocketbench.core.analysis.study import load_study

            servers += load_study(lab_study).lab.servers
        if len(servers) > 1 or lab_study:
            from pocketbench.core.cli.lab import list_by_model

            list_by_model(servers, as_json)
            return
        host = port = None
        if servers:
            from pocketbench.core.devices.lab import parse_server

            try:
                server = parse_server(servers[0], "--adb-server")
            except Exception as exc:
                raise click.BadParameter(
                    "write it as HOST:PORT", param_hint="--adb-server"
                ) from exc
            host, port = server.host, server.port
        rows: list[dict[str, Any]] = [
            {"device": "local", "state": "device", "facts": LocalDevice().facts(), "problem": None}
        ]
        adb_problem = None
        try:
            for serial, state, facts, problem in describe_attached(host, port):
                name = f"adb://{host}:{port}/{serial}" if host else f"adb:{serial}"
                rows.append({"device": name, "state": state, "facts": facts, "problem": problem})
        except DeviceError as exc:
            adb_problem = str(exc)
        if as_json:
            out = [{**r, "facts": unstructure(r["facts"]) if r["facts"] else None} for r in rows]
            click.echo(json.dumps({"devices": out, "adb_problem": adb_problem}, indent=2))
            return
        for r in rows:
            detail = _fmt_facts(r["facts"]) if r["facts"] else r["problem"]
            click.echo(f"{r['device']:<28} {r['state']:<12} {detail}")
        if adb_problem:
            click.echo(f"(no phones listed: {adb_problem})", err=True)
        elif len(rows) == 1:
            click.echo(
                "(no phones attached: enable USB debugging and connect one, or"
                " `adb connect HOST:PORT`)",
                err=True,
            )
