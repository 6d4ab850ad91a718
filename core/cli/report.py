"""``bench report``, ``bench study`` and ``bench compare``: everything that reads the store.

:func:`add_commands` adds them to the main group; the group keeps the plugin
registry in ``ctx.obj["registry"]`` (created on first use when absent).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pocketbench.core.api.errors import ExitCode, PocketbenchError, UsageError

DEFAULT_DB = "pocketbench.db"
Echo = Callable[[str], None]
#: Makes the hook wrappers (progress, cooldown, readings) for a study's runs.
WrappersFactory = Callable[[dict[str, Any], Echo], list[Any]]


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _registry(ctx: click.Context) -> Any:
    # One registry per command line, made by the main group's rules (--no-plugins,
    # POCKETBENCH_DISABLE_PLUGINS).
    from pocketbench.core.cli.main import _registry as registry_of

    return registry_of(ctx)


class ReporterName(click.ParamType):
    """A reporter plugin's name; checked against the registry when the command runs."""

    name = "format"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        try:
            from pocketbench.core.engine.plugins import Registry

            names = Registry.from_entry_points(warn=lambda message: None).reporter_names()
        except Exception:  # help must never fail because of a plugin
            return "FORMAT"
        return "[" + "|".join(names) + "]" if names else "FORMAT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)


def _write(output: str | None, text: str | bytes) -> None:
    if output is None or output == "-":
        if isinstance(text, bytes):
            sys.stdout.buffer.write(text)
            sys.stdout.flush()
        else:
            click.echo(text, nl=not text.endswith("\n"))
        return
    path = Path(output)
    try:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write --output {path}: {exc.strerror or exc}") from None
    _echo_err(f"wrote {path}")


def _format_for(registry: Any, fmt: str | None, output: str | None) -> str:
    """``--format``, else the reporter whose extension matches ``--output``, else markdown."""
    names = registry.reporter_names()
    if fmt is not None:
        if fmt not in names:
            from pocketbench.core.api.errors import unknown_choice

            raise unknown_choice("report format", fmt, names)
        return fmt
    if output and output != "-":
        suffix = Path(output).suffix.lstrip(".").lower()
        for name in names:
            try:
                if registry.reporter_info(name).extension == suffix:
                    return name
            except PocketbenchError:
                continue
    return "markdown"


def _default_wrappers(kw: dict[str, Any], echo: Echo) -> list[Any]:
    try:
        from pocketbench.core.engine.plan import make_wrappers
    except ImportError:  # pragma: no cover - the session module is the lead's
        from pocketbench.core.engine.progress import Progress

        return [Progress(echo)]
    return list(make_wrappers(kw, echo))


def add_commands(group: click.Group, *, wrappers: WrappersFactory | None = None) -> None:
    """Add ``report``, ``study`` and ``compare`` to ``group``."""
    make_wrappers = wrappers or _default_wrappers

    @group.command("report")
    @click.option("--db", default=DEFAULT_DB, show_default=True, help="Results database.")
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
    @click.option(
        "--plusminus",
        type=click.Choice(["sd", "ci"]),
        default="sd",
        show_default=True,
        help="What ± means: sample standard deviation (the seed's) or 95% CI half-width.",
    )
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
        from pocketbench.core.results.report import ReportOptions, build_report, render
        from pocketbench.core.results.store import Store

        registry = _registry(ctx)
        with Store.open(db, create=False) as store:
            if list_campaigns:
                for c in store.campaigns():
                    click.echo(
                        f"{c['name']}\t{c['configurations']} configuration(s)\t{c['command'] or ''}"
                    )
                return
            fmt = _format_for(registry, fmt, output)
            report = build_report(store, campaign, title=title)
        if not report.configs:
            raise UsageError(f"no results stored in {db}; run a benchmark first (bench --help)")
        _write(
            output, render(registry, fmt, report, ReportOptions(plusminus=plusminus, title=title))
        )

    @group.command("study")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--db", default=DEFAULT_DB, show_default=True, help="Results database.")
    @click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(["markdown", "latex"]),
        default=None,
        help="Findings document format [default: from --output's extension, else markdown].",
    )
    @click.option(
        "--output", "-o", default=None, help="Write the findings here instead of standard output."
    )
    @click.option(
        "--device",
        "-d",
        "devices",
        multiple=True,
        help="Run on these devices instead of the study's (repeat for several).",
    )
    @click.option(
        "--plusminus",
        type=click.Choice(["sd", "ci"]),
        default="sd",
        show_default=True,
        help="What ± means in the tables.",
    )
    @click.option(
        "--no-run", is_flag=True, help="Measure nothing; rewrite the findings from the store."
    )
    @click.option(
        "--cooldown",
        default="auto",
        show_default=True,
        help="Between runs: auto (wait for the temperature to settle), off, or SECONDS.",
    )
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
        cooldown: str,
    ) -> None:
        """Run a study file (resuming what is stored) and write its findings document."""
        import attrs

        from pocketbench.core.analysis.findings import build_findings
        from pocketbench.core.analysis.study import load_study, run_study
        from pocketbench.core.results.store import Store
        from pocketbench.reporters.findings import render_findings

        study = load_study(file)  # a bad file fails before anything opens
        if fmt is None:
            fmt = "latex" if output and Path(output).suffix.lower() == ".tex" else "markdown"
        if devices:
            study = attrs.evolve(study, devices=list(devices))
        registry = _registry(ctx)
        opened: dict[str, Any] = {}
        code = ExitCode.OK
        with Store.open(db) as store:
            try:
                if not no_run:
                    from pocketbench.core.engine.plan import open_devices

                    opened = open_devices(study.devices, _echo_err)
                result = run_study(
                    study,
                    registry=registry,
                    store=store,
                    devices=opened or None,
                    wrappers=[] if no_run else make_wrappers({"cooldown": cooldown}, _echo_err),
                    echo=_echo_err,
                    command=shlex.join(["bench", *sys.argv[1:]]),
                    measure=not no_run,
                )
            except KeyboardInterrupt:
                _echo_err(
                    f"interrupted; every run finished so far is stored in {db};"
                    f" run the same command again to resume"
                )
                ctx.exit(int(ExitCode.INTERRUPTED))
            finally:
                for device in opened.values():
                    device.close()
            failed_jobs = [o for o in result.outcomes if o.error is not None]
            if result.outcomes and len(failed_jobs) == len(result.outcomes):
                first = failed_jobs[0]
                raise PocketbenchError(
                    f"every configuration failed; first: {first.error}",
                    exit_code=ExitCode(first.exit_code or ExitCode.SETUP),
                )
            findings = build_findings(
                result.study, result.configs, store, result.campaign, plusminus=plusminus
            )
        _write(output, render_findings(findings, fmt))
        if failed_jobs:
            code = ExitCode(failed_jobs[0].exit_code or ExitCode.SETUP)
        elif result.failed_runs:
            _echo_err(
                f"{result.failed_runs} run(s) failed; their raw output is stored in {db}"
                " (bench report shows the errors)"
            )
            code = ExitCode.RUNS_FAILED
        ctx.exit(int(code))

    @group.command("compare")
    @click.argument("old")
    @click.argument("new")
    @click.option("--db", default=DEFAULT_DB, show_default=True, help="Results database.")
    @click.option(
        "--threshold",
        type=float,
        default=5.0,
        show_default=True,
        help="Noise threshold: smaller relative changes (PCT) are never flagged.",
    )
    @click.option(
        "--alpha",
        type=float,
        default=0.05,
        show_default=True,
        help="Significance level of Welch's test (Holm-corrected).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    def compare_cmd(
        old: str, new: str, db: str, threshold: float, alpha: float, as_json: bool
    ) -> None:
        """Compare two stored campaigns: regressions and improvements beyond noise."""
        from pocketbench.core.analysis.compare import compare_campaigns, format_comparison
        from pocketbench.core.results.store import Store

        if not 0 < alpha < 1:
            raise UsageError(f"--alpha must be between 0 and 1 (got {alpha})")
        with Store.open(db, create=False) as store:
            comparison = compare_campaigns(store, old, new, threshold_pct=threshold, alpha=alpha)
        if as_json:
            click.echo(_comparison_json(comparison))
        else:
            click.echo(format_comparison(comparison))


def _comparison_json(comparison: Any) -> str:
    import json
    import math

    def num(v: float) -> float | None:
        return v if isinstance(v, float) and math.isfinite(v) else None

    data = {
        "old": comparison.old,
        "new": comparison.new,
        "threshold_pct": comparison.threshold_pct,
        "alpha": comparison.alpha,
        "correction": comparison.correction,
        "changes": [
            {
                "config_key": c.config_key,
                "label": c.label,
                "metric": c.metric,
                "verdict": c.verdict,
                "old_mean": num(c.old.mean),
                "new_mean": num(c.new.mean),
                "change_pct": num(c.change_pct),
                "change_pct_ci95": [num(v) for v in c.ratio.pct_ci],
                "pvalue": num(c.welch.pvalue),
                "p_adjusted": num(c.p_adjusted),
            }
            for c in comparison.changes
        ],
        "only_old": list(comparison.only_old),
        "only_new": list(comparison.only_new),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
