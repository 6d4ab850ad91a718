"""``bench report``: render what is stored, with any reporter plugin."""

from __future__ import annotations

from typing import Any

import click

from pocketbench.core.api.errors import UsageError
from pocketbench.core.cli.common import (
    db_option,
    format_for,
    plusminus_option,
    registry,
    write_output,
)


class ReporterName(click.ParamType):
    """A reporter plugin's name; checked against the registry when the command runs."""

    name = "format"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        if ctx is None:
            return "FORMAT"
        try:
            names = registry(ctx).reporter_names()
        except Exception:  # help must never fail because of a plugin
            return "FORMAT"
        return "[" + "|".join(names) + "]" if names else "FORMAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)


def add_commands(group: click.Group) -> None:
    @group.command("report")
    @db_option
    @click.option(
        "--campaign",
        default=None,
        help="Campaign to report (default: the newest measurement of every configuration).",
    )
    @click.option(
        "--format",
        "-f",
        "fmt",
        type=ReporterName(),
        default=None,
        help="Reporter plugin [default: from --output's extension, else markdown].",
    )
    @plusminus_option
    @click.option("--title", default=None, help="Document title.")
    @click.option("--output", "-o", default=None, help="Write here instead of standard output.")
    @click.option(
        "--list", "list_campaigns", is_flag=True, help="List the stored campaigns and exit."
    )
    @click.pass_context
    def report_cmd(
        ctx: click.Context,
        db: str,
        campaign: str | None,
        fmt: str | None,
        plusminus: str,
        title: str | None,
        output: str | None,
        list_campaigns: bool,
    ) -> None:
        """Render stored results (markdown, LaTeX, JSON, CSV, HTML, or a plugin's format)."""
        from pocketbench.core.results.build import build_report
        from pocketbench.core.results.report import ReportOptions
        from pocketbench.core.results.store import Store

        reg = registry(ctx)
        with Store.open(db, create=False, write=False) as store:
            if list_campaigns:
                from pocketbench.core.results.claims import job_states

                states = job_states(store)
                for c in store.campaigns():
                    jobs = ", ".join(
                        f"{n} {s}" for s, n in sorted(states.get(c["name"], {}).items())
                    )
                    click.echo(
                        f"{c['name']}\t{c['configurations']} configuration(s)\t"
                        f"jobs: {jobs or 'none'}\t{c['command'] or ''}"
                    )
                return
            _note_future(store.campaigns())
            names = reg.reporter_names()
            fmt = format_for(names, fmt, output, lambda n: reg.reporter_info(n).extension)
            report = build_report(store, campaign, title=title, vocabulary=reg.vocabulary())
            import attrs

            report = attrs.evolve(report, phones=_phones(store, report))
        if not report.configs:
            raise UsageError(f"no results stored in {db}; run a benchmark first (bench --help)")
        options = ReportOptions(plusminus=plusminus, title=title)
        write_output(output, reg.render(fmt, report, options))


def _note_future(campaigns: list[dict]) -> None:
    """Say which campaigns carry a date in the future (they count as the oldest)."""
    import time

    from pocketbench.core.cli.common import echo_err

    now = time.time()
    for c in campaigns:
        if c["created_at"] > now + 300:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(min(c["created_at"], 253402300799)))
            echo_err(
                f"note: campaign {c['name']!r} is dated {when} UTC, in the future (a wrong"
                " clock?); it counts as older than every other campaign"
            )


def _phones(store: Any, report: Any) -> Any:
    """The per-phone table of the report's campaigns measured by a pool (None: one phone each)."""
    import attrs

    from pocketbench.core.analysis.phone_findings import phone_breakdown
    from pocketbench.core.results.findings import PhoneBreakdown

    labels = {c.config_key: c.label for c in report.configs}
    parts = [p for camp in report.campaigns if (p := phone_breakdown(store, camp, labels))]
    if not parts:
        return None
    split = [p.variance for p in parts if p.variance is not None]
    return PhoneBreakdown(
        header=parts[0].header,
        rows=tuple(r for p in parts for r in p.rows),
        variance=attrs.evolve(split[0], rows=tuple(r for v in split for r in v.rows))
        if split
        else None,
    )
