"""``bench study``: run a study file (resuming what is stored) and write its findings."""

from __future__ import annotations

import re
import shlex
import sys

import attrs
import click

from pocketbench.core.api.errors import ExitCode, PocketbenchError, UsageError
from pocketbench.core.cli.common import (
    cooldown_option,
    db_option,
    echo_err,
    format_for,
    no_wait_option,
    plusminus_option,
    registry,
    target_ci_options,
    write_output,
)


def add_commands(group: click.Group) -> None:
    @group.command("study")
    @click.argument("file", type=click.Path(dir_okay=False))
    @db_option
    @click.option(
        "--format",
        "-f",
        "fmt",
        default=None,
        help="Reporter that writes the findings (markdown, latex, or a plugin's)"
        " [default: from --output's extension, else markdown].",
    )
    @click.option(
        "--output",
        "-o",
        default=None,
        help="Write the findings here instead of standard output, and their pictures"
        " to a folder beside it (findings.md -> findings-files/).",
    )
    @click.option(
        "--device",
        "-d",
        "devices",
        multiple=True,
        help="Run on these devices instead of the study's (repeat for several).",
    )
    @plusminus_option
    @click.option(
        "--no-run", is_flag=True, help="Measure nothing; rewrite the findings from the store."
    )
    @click.option(
        "--order",
        default=None,
        metavar="interleaved|sequential",
        help="Order of the runs, overriding the study's `order`: interleaved rounds in a seeded"
        " shuffled order, or each configuration's runs back to back [default: the study's,"
        " else interleaved].",
    )
    @click.option(
        "--force",
        is_flag=True,
        help="With --order: continue a campaign begun in the other order.",
    )
    @target_ci_options
    @cooldown_option
    @no_wait_option
    @click.pass_context
    def study_cmd(
        ctx: click.Context,
        file: str,
        db: str,
        fmt: str | None,
        output: str | None,
        devices: tuple[str, ...],
        plusminus: str,
        no_run: bool,
        order: str | None,
        force: bool,
        target_ci: float | None,
        max_runs: int,
        cooldown: str,
        no_wait: bool,
    ) -> None:
        """Run a study file (resuming what is stored) and write its findings document."""
        from pocketbench.core.analysis.findings import build_findings
        from pocketbench.core.analysis.study import load_study
        from pocketbench.core.analysis.study_run import run_study
        from pocketbench.core.engine.plan import make_wrappers
        from pocketbench.core.engine.pool import Targets, open_targets
        from pocketbench.core.results.report import ReportOptions
        from pocketbench.core.results.store import Store

        study = load_study(file)  # a bad file fails before anything opens
        if order is not None:
            from pocketbench.core.engine.rounds import check_order

            check_order(order, "--order")
        from pocketbench.core.cli.run import stop_rule_for

        rule = stop_rule_for(target_ci)
        if rule is not None and max_runs < study.runs:
            raise UsageError(f"--max-runs must be at least the study's runs ({study.runs})")
        if devices:
            study = attrs.evolve(study, devices=list(devices))
        reg = registry(ctx)
        formats = reg.findings_formats()
        fmt = format_for(formats, fmt, output, lambda n: reg.reporter_info(n).extension)
        opened: Targets | None = None
        with Store.open(db) as store:
            from pocketbench.core.analysis.imported_findings import imported_campaigns

            imported_campaigns(study, store)  # a missing import is said before anything runs
            try:
                wrappers = [] if no_run else make_wrappers(cooldown, echo_err)
                if not no_run:
                    opened = open_targets(
                        study.devices,
                        servers=study.lab.servers,
                        spread=study.lab.spread,
                        echo=echo_err,
                    )
                result = run_study(
                    study,
                    registry=reg,
                    store=store,
                    devices=opened,
                    wrappers=wrappers,
                    echo=echo_err,
                    command=shlex.join(["bench", *sys.argv[1:]]),
                    wait=not no_wait,
                    order=order,
                    force=force,
                    stop_rule=rule,
                    max_runs=max_runs if rule is not None else None,
                )
            except KeyboardInterrupt as exc:
                from pocketbench.core.engine import signals

                echo_err(
                    f"{signals.reason(exc)}; every run finished so far is stored in {db};"
                    f" run the same command again to resume"
                )
                ctx.exit(signals.exit_code(exc))
            finally:
                if opened is not None:
                    opened.close()
            pool = result.pool
            if pool is not None and len(pool.idle_s) > 1 and pool.wall_s > 0:
                idle = sum(pool.idle_s.values()) / (len(pool.idle_s) * pool.wall_s)
                moved = (
                    f"; {pool.requeued} configuration(s) moved to another phone"
                    if pool.requeued
                    else ""
                )
                echo_err(
                    f"{len(pool.idle_s)} phones measured for {pool.wall_s:.1f} s, idle"
                    f" {100 * idle:.0f}% of that time{moved}"
                )
            failed_jobs = [o for o in result.outcomes if o.error is not None]
            if result.outcomes and len(failed_jobs) == len(result.outcomes):
                first = failed_jobs[0]
                if len({o.error for o in failed_jobs}) == 1:
                    ctx.exit(first.exit_code or ExitCode.SETUP)  # its one cause was said
                raise PocketbenchError(
                    f"every configuration failed; first: {first.error}",
                    exit_code=ExitCode(first.exit_code or ExitCode.SETUP),
                )
            findings = build_findings(
                result.study,
                result.configs,
                store,
                result.campaign,
                plusminus=plusminus,
                vocabulary=reg.vocabulary(),
            )
            from pocketbench.core.analysis.depth import study_depth_picture

            picture = study_depth_picture(result.study, result.configs, store, output)
        if output is not None and output != "-":
            from pathlib import Path

            from pocketbench.core.analysis.pictures import write_pictures

            findings = write_pictures(findings, Path(output))
            # Linked only under a name every format takes verbatim (no _ for LaTeX to read).
            if (
                picture is not None
                and picture.parent == Path(output).parent
                and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", picture.name)
            ):
                from pocketbench.core.results.findings import Picture

                depth = Picture(
                    name="depth",
                    title="Generation speed against context depth",
                    caption="Each configuration's generation speed at each prompt length swept.",
                    path=picture.name,
                    svg=picture.with_suffix(".svg").name,
                )
                findings = attrs.evolve(findings, pictures=(*findings.pictures, depth))
        options = ReportOptions(plusminus=plusminus, title=study.title)
        write_output(output, reg.render_findings(fmt, findings, options))
        if picture is not None:
            echo_err(f"generation speed against depth: {picture}")
        code = ExitCode.OK
        if failed_jobs:
            code = ExitCode(failed_jobs[0].exit_code or ExitCode.SETUP)
        elif result.failed_runs:
            echo_err(
                f"{result.failed_runs} run(s) failed; their raw output is stored in {db}"
                " (bench report shows the errors)"
            )
            code = ExitCode.RUNS_FAILED
        ctx.exit(int(code))
