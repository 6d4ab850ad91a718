"""``bench import`` for ExecuTorch: ``llama_main`` logs and the Android benchmark app's JSON.

A ``llama_main`` log (or the Python runner's) holds one report per
generation: the ``PyTorchObserver {json}`` line and the ``stats.h`` block,
in either order, with or without the ET_LOG prefix, interleaved with
generated text.  Each observer line is one run; a log without observer
lines gives one run per stats block.  Counts and rates follow
:mod:`.parse` (the backend's own definitions), so an imported run means
what a measured one means.

The benchmark app (``extension/benchmark/android/benchmark``, "minibench")
writes ``benchmark_results.json``: a Gson list of ``BenchmarkMetric``
(``benchmarkModel`` {name, backend, quantization}, ``metric``,
``actualValue``, ``targetValue``, ``deviceInfo`` {device, arch, os,
totalMem, availMem}); its first version (2024) had flat ``name``,
``metric``, ``actual``, ``target``, ``dtype``, ``device`` fields.  For LLMs
it records ``token_per_sec`` (generated tokens / (inference end - prompt
end): the decode rate), the load time and the whole generate time of one
generation, and no token counts: those come from ``bench import
--prompt-tokens/--gen-tokens/--threads``.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from pocketbench.backends.executorch.parse import RunnerReport
from pocketbench.plugin import (
    DeviceFacts,
    ImportedConfig,
    ImportedResults,
    ImportedRun,
    ImportFormatError,
    Metrics,
    ParseError,
)

FORMATS = (
    "ExecuTorch llama_main logs (PyTorchObserver line and stats block)",
    "the ExecuTorch benchmark app's benchmark_results.json",
)
_OBSERVER = re.compile(r"PyTorchObserver\s+(\{[^\n]*)")
_STATS_START = re.compile(r"Prompt Tokens:\s*\d+\s+Generated Tokens:\s*\d+")
_MODEL = re.compile(r"model_path=([^,\s]+)")
_THREADS = re.compile(r"Resetting threadpool with num threads = (\d+)")
_APP_METRICS = {
    "token_per_sec": "generation_tps",
    "model_load_time(ms)": "load_ms",
    "llm_model_load_time(ms)": "load_ms",
    "generate_time(ms)": "generate_ms",
}


def read(path: str, text: str) -> ImportedResults | None:
    """The hook's work: a runner log or the benchmark app's JSON, else None."""
    stripped = text.lstrip()
    if stripped.startswith("[") and '"metric"' in text:
        return read_app_json(text)
    if "PyTorchObserver" in text or _STATS_START.search(text):
        return read_log(text)
    return None


# -- llama_main logs ------------------------------------------------------------------


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _reports(text: str) -> list[tuple[int, str, RunnerReport | str]]:
    """(line, source, report or why it is unusable) for every generation in the log."""
    out: list[tuple[int, str, RunnerReport | str]] = []
    observers = list(_OBSERVER.finditer(text))
    blocks = _stats_blocks(text)
    if observers:
        rss = None
        # stats.h prints both for every generation: when the counts match they
        # are two reports of one run and must agree.
        twins = [b[2] for b in blocks] if len(blocks) == len(observers) else []
        for k, m in enumerate(observers):
            line = _line(text, m.start())
            try:
                data, _ = json.JSONDecoder().raw_decode(m[1])
            except json.JSONDecodeError as exc:
                raise ImportFormatError(
                    f"truncated PyTorchObserver JSON ({exc.msg})", line=line
                ) from None
            if not isinstance(data, dict):
                raise ImportFormatError("the PyTorchObserver line holds no JSON object", line=line)
            try:
                report = RunnerReport.from_observer_json(data, rss_mib=rss)
            except (ParseError, ValueError, TypeError) as exc:
                out.append((line, m[0], str(exc)))
                continue
            twin = twins[k] if twins else None
            why = _disagree(report, twin) if isinstance(twin, RunnerReport) else None
            out.append((line, m[0], why or report))
        return out
    return blocks


#: Two reports of one run agree within the stats block's rounding (ms, 3 decimals of s).
AGREE_S = 0.05


def _disagree(observer: RunnerReport, stats: RunnerReport) -> str | None:
    """Why the observer line and the stats block cannot both be this run (None: they agree)."""
    a, b = observer.inference_ms / 1000, stats.inference_ms / 1000
    if abs(a - b) <= AGREE_S + 0.01 * max(a, b):
        return None
    return (
        f"the PyTorchObserver line says {a:.4g} s of inference, its stats block {b:.4g} s:"
        " the log contradicts itself; not imported"
    )


def _stats_blocks(text: str) -> list[tuple[int, str, RunnerReport | str]]:
    out: list[tuple[int, str, RunnerReport | str]] = []
    starts = [m.start() for m in _STATS_START.finditer(text)]
    for i, start in enumerate(starts):
        begin = text.rfind("\n", 0, start) + 1
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        end = text.rfind("\n", 0, end) + 1 if i + 1 < len(starts) else end
        block = text[begin:end]
        try:
            out.append((_line(text, begin), block, RunnerReport.from_stats_block(block)))
        except ParseError as exc:
            out.append((_line(text, begin), block, str(exc)))
    return out


def read_log(text: str) -> ImportedResults:
    models: dict[str, int] = {}
    for m in _MODEL.finditer(text):
        models.setdefault(m[1], _line(text, m.start()))
    if len(models) > 1:
        (a, la), (b, lb) = list(models.items())[:2]
        raise ImportFormatError(
            f"two models in one log: {a} (line {la}) and {b}; import them apart", line=lb
        )
    reports = _reports(text)
    if not reports:
        raise ImportFormatError("an ExecuTorch log without a complete stats block", line=1)
    threads = _THREADS.search(text)
    model_path = next(iter(models), "")
    model = os.path.basename(model_path) or "unknown model"
    groups: dict[tuple[int, int], list[ImportedRun]] = {}
    for line, source, report in reports:
        if isinstance(report, str):
            raise ImportFormatError(report, line=line)
        key = (report.prompt_tokens, report.generated_tokens + 1)
        try:
            metrics: Metrics | None = report.to_metrics(prompt_tokens=key[0], gen_tokens=key[1])
            error = None
        except ParseError as exc:
            metrics, error = None, str(exc)
        run = ImportedRun(
            metrics=metrics,
            source=source,
            line=line,
            error=error,
            wall_s=report.inference_ms / 1000,
        )
        groups.setdefault(key, []).append(run)
    describe = {"tool": "llama_main log", "report": reports[0][2].source}  # type: ignore[union-attr]
    if model_path:
        describe["model_file"] = model_path
    configs = tuple(
        ImportedConfig(
            backend="executorch",
            quant=_quant(model),
            model=model,
            prompt_tokens=prompt,
            gen_tokens=gen,
            threads=int(threads[1]) if threads else None,
            describe=describe,
            options={"tool": "llama_main"},
            runs=tuple(runs),
            line=runs[0].line,
        )
        for (prompt, gen), runs in groups.items()
    )
    return ImportedResults(format="llama_main log", configs=configs)


def _quant(model: str) -> str:
    """The scheme a model's file name names (``llama3_2_xnnpack_8da4w`` -> 8da4w), else "unknown"."""
    from pocketbench.backends.executorch.schemes import SCHEMES

    words = set(re.split(r"[_\-.+]+", model.lower()))
    for s in SCHEMES:
        if s.name in words or words & set(s.aliases):
            return s.name
    if "spin" in words or "spinquant" in model.lower():
        return "spinquant"
    return "unknown"


# -- the benchmark app ------------------------------------------------------------------


def read_app_json(text: str) -> ImportedResults | None:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        if '"actualValue"' in text or '"benchmarkModel"' in text:
            raise ImportFormatError(
                f"truncated or broken JSON ({exc.msg})", line=exc.lineno
            ) from None
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) and "metric" in i for i in items):
        return None
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for index, item in enumerate(items):
        bm = item.get("benchmarkModel") or {}
        key = (str(bm.get("name", item.get("name", "unknown"))), str(bm.get("backend", "")),
               str(bm.get("quantization", "")))  # fmt: skip
        entry = groups.setdefault(key, {"values": {}, "device": item.get("deviceInfo") or {},
                                        "flat_device": item.get("device"), "index": index})  # fmt: skip
        value = item.get("actualValue", item.get("actual"))
        try:
            entry["values"][str(item["metric"])] = float(value)
        except (TypeError, ValueError):
            raise ImportFormatError(
                f"{item['metric']} = {value!r} is not a number", line=1
            ) from None
    configs = []
    for (name, backend, quant), entry in groups.items():
        values = entry["values"]
        configs.append(
            _app_config(name, backend, quant, values, entry["device"], entry["flat_device"], text)
        )
    return ImportedResults(format="ExecuTorch benchmark app JSON", configs=tuple(configs))


def _app_config(
    name: str,
    backend: str,
    quant: str,
    values: dict[str, float],
    device: dict,
    flat: Any,
    text: str,
) -> ImportedConfig:
    figures = {_APP_METRICS[k]: v for k, v in values.items() if k in _APP_METRICS}
    error = None
    if values.get("load_status", 0.0) != 0:
        error = f"load_status = {values['load_status']:g}: the model did not load"
    for key, value in figures.items():
        if not (math.isfinite(value) and value >= 0) or (key == "generation_tps" and value == 0):
            error = f"{key} = {value:g} is impossible"
    tps = figures.get("generation_tps")
    if tps is None and error is None:
        raise ImportFormatError(f"no token_per_sec for {name}: not an LLM benchmark result", line=1)
    metrics = None
    if error is None:
        extra = {"generate_ms": figures["generate_ms"]} if "generate_ms" in figures else {}
        metrics = Metrics(
            prompt_tokens=0, gen_tokens=0, prompt_tps=math.nan, generation_tps=float(tps or 0),
            total_tps=math.nan, load_ms=figures.get("load_ms"), extra=extra,
        )  # fmt: skip
    facts = None
    if device or flat:
        brand = str(device.get("device", flat or ""))
        facts = DeviceFacts(
            name=" ".join(x for x in (brand, str(device.get("arch", ""))) if x) or "phone",
            kind="imported", manufacturer=brand, model=str(device.get("arch", "")),
            os=str(device.get("os", "")), ram_bytes=int(device.get("totalMem", 0) or 0),
        )  # fmt: skip
    run = ImportedRun(
        metrics=metrics, source=text[:4000], line=1, error=error,
        wall_s=figures.get("generate_ms", 0.0) / 1000.0,
    )  # fmt: skip
    return ImportedConfig(
        backend="executorch", quant=_quant(quant or name), model=name,
        prompt_tokens=None, gen_tokens=None, threads=None,
        describe={"tool": "ExecuTorch benchmark app", "app_backend": backend, "app_quantization": quant,
                  "figures": "token_per_sec (decode rate), load and generate time of one generation"},
        facts=facts, options={"tool": "benchmark app"}, runs=(run,), line=1,
    )  # fmt: skip
