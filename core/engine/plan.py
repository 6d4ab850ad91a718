"""``bench run``: from command-line values to stored runs and a summary table."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from pocketbench.core.api.errors import ExitCode, PocketbenchError, UsageError, unknown_choice
from pocketbench.core.api.model import METRIC_LABELS, Job, Workload
from pocketbench.core.api.presets import PRESETS
from pocketbench.core.engine.plugins import Registry

Echo = Callable[[str], None]

MODEL_SUFFIXES = (".gguf", ".pte", ".pth", ".bin", ".safetensors")


def check_model(model: str) -> None:
    """A model that looks like a path must exist (presets are the backend's business)."""
    looks_like_path = os.sep in model or model.lower().endswith(MODEL_SUFFIXES)
    if looks_like_path and not os.path.exists(model):
        presets = ", ".join(PRESETS)
        raise UsageError(
            f"model file {model} does not exist; give an existing file or a preset ({presets})"
        )


def make_workload(kw: dict[str, Any], threads: int) -> Workload:
    try:
        return Workload(
            prompt_tokens=kw["prompt_tokens"],
            gen_tokens=kw["gen_tokens"],
            threads=threads,
            prompt=kw.get("prompt"),
            timeout_s=kw.get("timeout", 600.0),
        )
    except ValueError as exc:
        raise UsageError(f"{exc}; give a positive number") from exc


def backend_options(kw: dict[str, Any]) -> dict[str, str]:
    from pocketbench.core.cli.main import _parse_options

    options = _parse_options(kw.get("extra_options") or ())
    for key in ("llamacpp_bin", "llama_main", "tokenizer"):
        if kw.get(key):
            options[key] = str(kw[key])
    if kw.get("crosscheck"):
        options["crosscheck"] = "1"
    return options


def open_devices(specs: Sequence[str], echo: Echo | None = None) -> dict[str, Any]:
    from pocketbench.core.devices import open_device

    devices: dict[str, Any] = {}
    for spec in specs or ("local",):
        device = open_device(spec)
        if device.name in devices:
            raise UsageError(f"device {device.name} is given twice")
        if echo is not None:
            device.push_display = push_display(device.name, echo)
        devices[device.name] = device
    return devices


def push_display(device: str, echo: Echo) -> Callable[[str, int], Callable[[int, int], None]]:
    """Progress lines for pushes to ``device``.

    A large file gets a line per quarter, a small one a line when it is sent,
    and a file the device already holds a line saying it was not sent again.
    """
    big = 16 * 2**20

    def start(name: str, size: int) -> Callable[[int, int], None]:
        shown: set[int] = set()
        mib = f"{size / 2**20:.1f} MiB"

        def progress(done: int, total: int) -> None:
            if done == total and not shown:  # complete before any transfer: already there
                echo(f"  {name}: already on {device} ({mib}), not pushed again")
                shown.add(100)
                return
            shown.add(0)
            quarter = 100 * done // total // 25 * 25 if total else 100
            if quarter in shown or (total < big and quarter < 100):
                return
            shown.add(quarter)
            echo(f"  pushing {name} to {device}: {quarter}% of {mib}")

        return progress

    return start


def make_wrappers(kw: dict[str, Any], echo: Echo) -> list[Any]:
    from pocketbench.core.engine.progress import Progress

    wrappers: list[Any] = [Progress(echo)]
    try:
        from pocketbench.core.engine.hygiene import Hygiene
    except ImportError:  # pragma: no cover - hygiene lands with the adb work
        return wrappers
    wrappers.insert(0, Hygiene(cooldown=_cooldown(kw.get("cooldown", "auto")), echo=echo))
    return wrappers


def _cooldown(value: str) -> str | float:
    value = str(value).strip().lower()
    if value in ("auto", "off"):
        return value
    try:
        seconds = float(value)
    except ValueError:
        raise UsageError(f"--cooldown {value!r}: use auto, off or a number of seconds") from None
    if seconds < 0:
        raise UsageError("--cooldown must not be negative")
    return seconds


def bandwidth_policy(kw: dict[str, Any], echo: Echo) -> Any:
    """``--bandwidth/--no-bandwidth`` and ``--remeasure-bandwidth``."""
    from pocketbench.core.engine.bandwidth import BandwidthPolicy

    return BandwidthPolicy(
        probe=kw.get("bandwidth", True) or bool(kw.get("remeasure_bandwidth")),
        remeasure=bool(kw.get("remeasure_bandwidth")),
        echo=echo,
    )


def stop_rule(target_pct: float | None) -> Any:
    if target_pct is None:
        return None
    if target_pct <= 0:
        raise UsageError("--target-ci must be a positive percentage")
    from pocketbench.core.results.stats import ci_within

    def rule(records: Sequence[Any]) -> bool:
        return ci_within([r.metrics.generation_tps for r in records if r.metrics], target_pct)

    return rule


def run_command(registry: Registry, kw: dict[str, Any], *, command: str, echo: Echo) -> ExitCode:
    """Validate everything, then measure; returns the exit code."""
    from pocketbench.core.engine.runner import Runner, run_on_devices
    from pocketbench.core.results.store import Store

    if kw["runs"] < 1:
        raise UsageError(f"--runs must be at least 1 (got {kw['runs']})")
    if kw["warmup"] < 0:
        raise UsageError(f"--warmup must be 0 or more (got {kw['warmup']})")
    backend = kw["backend"]
    info = registry.backend_info(backend)  # unknown backend -> "Choose one of"
    quant = kw.get("quant") or info.default_scheme
    if info.scheme(quant) is None:  # before anything is written
        raise unknown_choice(
            "quantization", quant, info.scheme_names(), f" for backend {backend!r}"
        )
    check_model(kw["model"])
    options = backend_options(kw)
    rule = stop_rule(kw.get("target_ci"))
    if rule is not None and kw["max_runs"] < kw["runs"]:
        raise UsageError("--max-runs must be at least --runs")
    devices = open_devices(kw.get("devices") or (), echo)
    jobs = []
    for name, device in devices.items():
        threads = kw.get("threads")
        if threads is None:
            threads = max(1, min(4, device.facts().cores or 1))
        workload = make_workload(kw, threads)
        jobs.append(
            Job(
                backend=backend,
                quant=quant,
                model=kw["model"],
                device=name,
                workload=workload,
                runs=kw["runs"],
                warmup=kw["warmup"],
                options=options,
            )
        )
    wrappers = make_wrappers(kw, echo)
    store = Store.open(kw["db"])
    try:
        runner = Runner(
            registry=registry,
            store=store,
            campaign="",
            wrappers=wrappers,
            stop_rule=rule,
            max_runs=kw["max_runs"] if rule else None,
            bandwidth=bandwidth_policy(kw, echo),
        )
        runner.campaign = store.campaign(kw.get("campaign"), command=command)
        errors: list[PocketbenchError] = []

        def on_error(job: Job, exc: PocketbenchError) -> None:
            errors.append(exc)
            if len(jobs) > 1:  # one job's error is printed once, by main()
                echo(f"error: {job.backend} {job.quant} {job.model} on {job.device}: {exc}")

        try:
            outcomes = run_on_devices(runner, jobs, devices, on_error)
        except KeyboardInterrupt:
            echo(
                f"interrupted; every run finished so far is stored in {store.path}"
                f" (campaign {runner.campaign}: run with --campaign {runner.campaign} to resume)"
            )
            return ExitCode.INTERRUPTED
        print_summary(store, runner.campaign, [o.job for o in outcomes if o.error is None])
        if errors and len(errors) == len(jobs):
            if len(jobs) == 1:
                raise errors[0]
            return ExitCode(errors[0].exit_code)
        failed = sum(len(o.failed_runs) for o in outcomes)
        if failed:
            echo(
                f"{failed} run(s) failed; their raw output is stored in {store.path}"
                " (bench report shows them)"
            )
            return ExitCode.RUNS_FAILED
        return ExitCode(errors[0].exit_code) if errors else ExitCode.OK
    finally:
        for device in devices.values():
            device.close()
        store.close()


def format_pm(mean: float, spread: float) -> str:
    if math.isnan(mean):
        return "n/a"
    if math.isnan(spread):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {spread:.2f}"


def print_summary(store: Any, campaign: str, jobs: Sequence[Job]) -> None:
    """The seed's table: metrics as rows, configurations as columns, mean ± sd."""
    import click

    from pocketbench.core.results.stats import summarize

    keys = {j.config_key() for j in jobs}
    if not keys or campaign not in {c["name"] for c in store.campaigns()}:
        return  # nothing was measured (every job failed before its first run)
    configs = [c for c in store.configurations(campaign) if c.config_key in keys]
    if not configs:
        return
    headers = [f"{c.backend} {c.quant} {c.model} @{c.device}" for c in configs]
    rows = []
    for metric in ("total_tps", "prompt_tps", "generation_tps"):
        cells = []
        for c in configs:
            s = summarize(c.samples(metric))
            cells.append(format_pm(s.mean, s.stdev))
        rows.append([METRIC_LABELS[metric], *cells])
    ns = [str(len(c.ok_runs)) for c in configs]
    rows.append(["Measured runs (n)", *ns])
    widths = [max(len(r[i]) for r in [["", *headers], *rows]) for i in range(len(headers) + 1)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    click.echo(line(["", *headers]))
    click.echo("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        click.echo(line(r))
    click.echo(
        "mean ± sample standard deviation; total = (prompt + generated tokens) /"
        " (prompt-eval + generation time)"
    )
    from pocketbench.core.results.bandwidth import sentence, summarize_bandwidth

    for c, header in zip(configs, headers):
        b = summarize_bandwidth(c.bandwidth, c.workload, c.samples("generation_tps"))
        line = sentence(header, b, c.facts.kind if c.facts is not None else "")
        if line:
            click.echo(line)
    for c in configs:
        cores = c.facts.cores if c.facts is not None else 0
        loads = [r.before.load_avg for r in c.runs if r.before and r.before.load_avg is not None]
        if cores and loads and max(loads) > cores:
            click.echo(
                f"note: {c.device} was busy during {c.backend} {c.quant}: load average up to"
                f" {max(loads):.1f} on {cores} cores before a run; other processes competed"
                " for the CPU, so these figures may be low"
            )
