"""``bench import`` for llama.cpp: llama-bench results in every ``-o`` format, and run logs.

llama-bench measures prompt processing (``ppP``) and generation (``tgG``) as
separate tests, each repeated; pocketbench's workload is one run of P prompt
tokens followed by G new ones.  So a ``ppP`` test is paired with a ``tgG``
test of the same settings: preferably one at depth P (``tgG @ dP``, decode
after a P-token prompt, what pocketbench measures), else one at the same
depth as the pp test (from an empty context, where generation reads 20-30%
higher; the pairing is stated in the configuration's description and is
part of its identity, so the two kinds never pool).  Repetition i of each
test becomes run i; ``total_tps`` is (P + G) / (pp time + tg time) of that
repetition.  Without per-repetition samples (md, csv, sql, old json) the
means and standard deviations are stored as summaries.

A llama.cpp log (``main``, ``llama-cli``, ``llama-completion``,
``llama-simple``) gives one run per timing block.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable

from pocketbench.backends.llamacpp import bench_formats
from pocketbench.backends.llamacpp.bench_formats import BenchRow
from pocketbench.backends.llamacpp.parse import RunTimings
from pocketbench.plugin import (
    DeviceFacts,
    ImportedConfig,
    ImportedResults,
    ImportedRun,
    ImportedSummary,
    ImportFormatError,
    Metrics,
    ParseError,
)

FORMATS = (
    "llama-bench -o md, csv, json, jsonl or sql",
    "llama.cpp logs (main, llama-cli, llama-completion, llama-simple)",
)
#: Fields that identify one test rather than the settings shared by a pp/tg pair.
_PER_TEST = {
    "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
    "samples_ns", "samples_ts",
}  # fmt: skip


def read(path: str, text: str) -> ImportedResults | None:
    """The hook's work: a llama-bench file or a llama.cpp log, else None."""
    fmt = bench_formats.detect(text)
    if fmt is not None:
        rows = bench_formats.read(text, fmt)
        if not rows:
            raise ImportFormatError(f"llama-bench {fmt} output without any test row", line=1)
        return ImportedResults(format=f"llama-bench {fmt}", configs=tuple(bench_configs(rows)))
    return read_log(text)


# -- llama-bench ------------------------------------------------------------------


def quant_name(model_type: str) -> str:
    """pocketbench's scheme name for the file type llama.cpp prints ("Q4_K - Medium" -> q4_k_m)."""
    m = re.search(
        r"(?:mostly\s+)?([A-Za-z]*[0-9]+[A-Za-z0-9_]*)(?:\s*-\s*(Medium|Small|Large))?\s*$",
        model_type,
    )
    if m is None:
        return model_type.strip().lower() or "unknown"
    name = m[1] + (f"_{m[2][0]}" if m[2] else "")
    from pocketbench.backends.llamacpp.quantize import _TABLE

    for scheme, qtype, _, aliases in _TABLE:
        if name.lower() in (scheme, qtype.lower(), *aliases):
            return scheme
    return name.lower()


def bench_configs(rows: list[BenchRow]) -> list[ImportedConfig]:
    groups: dict[tuple, list[BenchRow]] = {}
    for row in rows:
        key = tuple(sorted((k, str(v)) for k, v in row.fields.items() if k not in _PER_TEST))
        groups.setdefault(key, []).append(row)
    configs: list[ImportedConfig] = []
    for group in groups.values():
        pp = [r for r in group if r.integer("n_prompt") > 0 and r.integer("n_gen") == 0]
        tg = [r for r in group if r.integer("n_gen") > 0 and r.integer("n_prompt") == 0]
        pg = [r for r in group if r.integer("n_gen") > 0 and r.integer("n_prompt") > 0]
        for r in group:
            if r not in pp and r not in tg and r not in pg:
                raise ImportFormatError(
                    "a test with neither prompt nor generation tokens", line=r.line
                )
        for a, b in _pairs(pp, tg):
            configs.append(_config(a, b))
        configs.extend(_config(r, None) for r in pg)
    return sorted(configs, key=lambda c: c.line)


def _pairs(
    pp: list[BenchRow], tg: list[BenchRow]
) -> Iterable[tuple[BenchRow | None, BenchRow | None]]:
    # Same settings and the same depth: how llama-bench prints them (each ppP
    # row followed by its tgG row for every -d value).
    free = list(tg)
    for p in pp:
        match = next((t for t in free if t.integer("n_depth") == p.integer("n_depth")), None)
        if match is not None:
            free.remove(match)
        yield p, match
    for t in free:
        yield None, t


def _config(pp: BenchRow | None, tg: BenchRow | None) -> ImportedConfig:
    first = pp or tg
    assert first is not None
    f = first.fields
    n_prompt = pp.integer("n_prompt") if pp else (first.integer("n_prompt") or None)
    n_gen = tg.integer("n_gen") if tg else (first.integer("n_gen") or None)
    if pp is None and tg is not None and tg.integer("n_depth") > 0:
        n_prompt = tg.integer("n_depth")  # decode after that many tokens of context
    tests = [_test_name(r) for r in (pp, tg) if r is not None]
    options = {"tool": "llama-bench"}
    describe = {
        "tool": "llama-bench",
        "tests": " with ".join(tests),
        "build_commit": str(f.get("build_commit", "")),
        "build_number": str(f.get("build_number", "")),
        "model_file": str(f.get("model_filename", "")),
        "model_type": str(f.get("model_type", "")),
        "model_bytes": str(f.get("model_size", "")),
        "params": str(f.get("model_n_params", "")),
        "backends": str(f.get("backends", f.get("backend", ""))),
        "settings": ", ".join(
            f"{k}={v}" for k, v in sorted(f.items())
            if k not in _PER_TEST and k not in ("build_commit", "build_number", "cpu_info", "gpu_info",
                                                 "model_filename", "model_type", "model_size",
                                                 "model_n_params", "backends", "n_threads")
        ),
    }  # fmt: skip
    notes = []
    if pp is not None and pp.integer("n_depth"):
        options["pp_depth"] = str(pp.integer("n_depth"))
        notes.append(
            f"the prompt was processed with {pp.integer('n_depth')} tokens already in the context"
            " (a pocketbench run starts from an empty one)"
        )
    if tg is not None:
        depth = tg.integer("n_depth")
        options["tg_depth"] = str(depth)
        if n_prompt is not None and depth != n_prompt:
            notes.append(
                f"generation was decoded with {depth} tokens in the context, not after the"
                f" {n_prompt}-token prompt as in a pocketbench run"
                + (" (from an empty context it reads higher)" if depth < n_prompt else "")
            )
    if notes:
        describe["pairing"] = f"{' with '.join(tests)}, separate llama-bench tests: " + "; ".join(
            notes
        )
    facts = None
    if f.get("cpu_info") or f.get("gpu_info"):
        facts = DeviceFacts(
            name=str(f.get("cpu_info") or f.get("gpu_info")),
            kind="imported",
            soc=str(f.get("cpu_info", "")),
            extra={k: str(f[k]) for k in ("gpu_info", "backends") if f.get(k)},
        )
    model = os.path.basename(str(f.get("model_filename") or "")) or str(
        f.get("model_type", "unknown")
    )
    runs, summaries = _figures(pp, tg)
    return ImportedConfig(
        backend="llamacpp",
        quant=quant_name(str(f.get("model_type", ""))),
        model=model,
        prompt_tokens=n_prompt,
        gen_tokens=n_gen,
        threads=first.integer("n_threads") or None,
        describe=describe,
        facts=facts,
        options=options,
        runs=runs,
        summaries=summaries,
        line=first.line,
    )


def _test_name(row: BenchRow) -> str:
    p, g, d = row.integer("n_prompt"), row.integer("n_gen"), row.integer("n_depth")
    name = "+".join(x for x in (f"pp{p}" if p else "", f"tg{g}" if g else "") if x)
    return name + (f" @ d{d}" if d else "")


def _rates(row: BenchRow) -> tuple[float, ...] | None:
    """Per-repetition tokens/s: samples_ts, else the tool's own formula over samples_ns."""
    ts = row.samples("samples_ts")
    if ts is not None:
        return ts
    ns = row.samples("samples_ns")
    if ns is None:
        return None
    tokens = row.integer("n_prompt") + row.integer("n_gen")
    return tuple(1e9 * tokens / v if v > 0 else -1.0 for v in ns)


#: llama-bench writes samples_ts as 1e9 * tokens / samples_ns; JSON rounding is far below this.
RATE_TOLERANCE = 0.01


def _contradiction(row: BenchRow, i: int) -> str | None:
    """Why repetition ``i``'s rate disagrees with its own duration (None: it agrees)."""
    ts, ns = row.samples("samples_ts"), row.samples("samples_ns")
    if ts is None or ns is None or len(ts) != len(ns) or not (ns[i] > 0 and math.isfinite(ns[i])):
        return None
    tokens = row.integer("n_prompt") + row.integer("n_gen")
    expected = 1e9 * tokens / ns[i]
    if math.isfinite(ts[i]) and abs(ts[i] - expected) <= RATE_TOLERANCE * expected:
        return None
    return (
        f"samples_ts[{i}] of {_test_name(row)} = {ts[i]:g} contradicts its samples_ns"
        f" ({expected:.4g} tok/s)"
    )


def _figures(
    pp: BenchRow | None, tg: BenchRow | None
) -> tuple[tuple[ImportedRun, ...], tuple[ImportedSummary, ...]]:
    rows = [r for r in (pp, tg) if r is not None]
    rates = [_rates(r) for r in rows]
    if all(r is not None for r in rates):
        return _runs(pp, tg, rates), ()
    summaries = []
    for row in rows:
        metric = _metric(row)
        mean, sd = row.real("avg_ts"), row.real("stddev_ts")
        if mean is None:
            raise ImportFormatError(f"{_test_name(row)} has no avg_ts", line=row.line)
        # The file does not say how many repetitions (n = 0: unknown).
        summaries.append(
            ImportedSummary(
                metric=metric, n=0, mean=mean, stdev=math.nan if sd is None else sd, line=row.line
            )
        )
    return (), tuple(summaries)


def _metric(row: BenchRow) -> str:
    p, g = row.integer("n_prompt"), row.integer("n_gen")
    return "total_tps" if p and g else ("prompt_tps" if p else "generation_tps")


def _runs(
    pp: BenchRow | None, tg: BenchRow | None, rates: list[tuple[float, ...] | None]
) -> tuple[ImportedRun, ...]:
    rows = [r for r in (pp, tg) if r is not None]
    counts = {len(r or ()) for r in rates}
    if len(counts) > 1:
        raise ImportFormatError(
            f"{' and '.join(_test_name(r) for r in rows)} have different repetition counts"
            f" ({', '.join(str(len(r or ())) for r in rates)})",
            line=rows[-1].line,
        )
    first = rows[0]
    n_p = first.integer("n_prompt") if pp else 0
    n_g = tg.integer("n_gen") if tg else first.integer("n_gen")
    if pp is None and tg is not None:
        n_p = tg.integer("n_depth")
    out = []
    source = "\n".join(r.source for r in rows)
    for i in range(counts.pop()):
        values = {_metric(r): v[i] for r, v in zip(rows, rates) if v is not None}
        bad = [
            f"samples_ts[{i}] of {_test_name(r)} = {v[i]:g} is impossible"
            for r, v in zip(rows, rates) if v is not None and not (math.isfinite(v[i]) and v[i] > 0)
        ]  # fmt: skip
        bad = bad or [c for r in rows if (c := _contradiction(r, i)) is not None]
        if bad:
            out.append(ImportedRun(metrics=None, source=source, line=first.line,
                                   error=f"{'; '.join(bad)}; dropped"))  # fmt: skip
            continue
        nan = math.nan
        prompt, gen = values.get("prompt_tps", nan), values.get("generation_tps", nan)
        total = values.get("total_tps", nan)
        wall = 0.0
        if pp is not None and tg is not None:
            t_p, t_g = n_p / prompt, n_g / gen
            total, wall = Metrics.total_rate(n_p, n_g, t_p, t_g), t_p + t_g
        metrics = Metrics(
            prompt_tokens=max(n_p, 0), gen_tokens=n_g, prompt_tps=prompt, generation_tps=gen,
            total_tps=total,
        )  # fmt: skip
        out.append(ImportedRun(metrics=metrics, source=source, line=first.line, wall_s=wall))
    return tuple(out)


# -- logs -------------------------------------------------------------------------

_MODEL_LINES = re.compile(
    r"(?:loaded meta data with .*? from (?P<a>\S+)"
    r"|llama\.cpp: loading model from (?P<b>\S+)"
    r"|llama_model_load: loading model from '(?P<c>[^']+)')"
)
_FTYPE = re.compile(
    r"(?:file type|model ftype|ftype)\s*=\s*(?:\d+\s*\()?(?P<t>(?:mostly\s+)?[A-Za-z0-9_]+(?:\s*-\s*(?:Medium|Small|Large))?)"
)
_THREADS = re.compile(r"system_info:\s*n_threads\s*=\s*(\d+)")
_BUILD = re.compile(r"(?:main: )?build\s*[:=]\s*(\d+)\s*\((\w+)\)")
_LLAMA_LOG = re.compile(
    r"llama_model_loader:|llama_new_context_with_model|llama_context:|main: build =|system_info:"
)


def read_log(text: str) -> ImportedResults | None:
    """A llama.cpp run log: one run per timing block; None when it is not such a log."""
    try:
        blocks = RunTimings.all_from_log(text)
    except ParseError as exc:  # a block whose lines lack their token counts
        at = re.search(r"prompt eval time", text)
        raise ImportFormatError(
            f"a llama.cpp log, but {exc}", line=_line(text, at.start()) if at else 1
        ) from None
    if not blocks:
        try:
            RunTimings.from_log(text)
        except ParseError as exc:
            if "without separate" in str(exc) or _LLAMA_LOG.search(text):
                raise ImportFormatError(
                    f"a llama.cpp log, but {exc}", line=_count_lines(text)
                ) from None
        return None
    models: dict[str, int] = {}
    for m in _MODEL_LINES.finditer(text):
        models.setdefault(m["a"] or m["b"] or m["c"], _line(text, m.start()))
    if len(models) > 1:
        (a, la), (b, lb) = list(models.items())[:2]
        raise ImportFormatError(
            f"two models in one log: {a} (line {la}) and {b}; import them apart", line=lb
        )
    ftype = _FTYPE.search(text)
    threads = _THREADS.search(text)
    build = _BUILD.search(text)
    model = os.path.basename(next(iter(models), "")) or "unknown model"
    describe = {"tool": "llama.cpp log", "timing_lines": blocks[0].style}
    if build is not None:
        describe.update(build_number=build[1], build_commit=build[2])
    if models:
        describe["model_file"] = next(iter(models))
    by_workload: dict[tuple[int, int], list[RunTimings]] = {}
    for b in blocks:
        by_workload.setdefault((b.prompt_tokens, b.generated_tokens), []).append(b)
    configs = []
    for (prompt, gen), timings in by_workload.items():
        runs = []
        for t in timings:
            line = _block_line(text, t)
            try:
                metrics = t.to_metrics(prompt_tokens=prompt, gen_tokens=gen)
                runs.append(ImportedRun(metrics=metrics, source=_block_text(text, t), line=line,
                                        wall_s=(t.total_ms or 0.0) / 1000.0))  # fmt: skip
            except ParseError as exc:
                runs.append(
                    ImportedRun(
                        metrics=None, source=_block_text(text, t), line=line, error=str(exc)
                    )
                )
        configs.append(
            ImportedConfig(
                backend="llamacpp",
                quant=quant_name(ftype["t"]) if ftype else "unknown",
                model=model,
                prompt_tokens=prompt,
                gen_tokens=gen,
                threads=int(threads[1]) if threads else None,
                describe=describe,
                options={"tool": "llama.cpp log"},
                runs=tuple(runs),
                line=runs[0].line,
            )
        )
    return ImportedResults(format="llama.cpp log", configs=tuple(configs))


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _count_lines(text: str) -> int:
    return max(1, len(text.splitlines()))


def _block_text(text: str, t: RunTimings) -> str:
    return text[t.span[0] : t.span[1]]


def _block_line(text: str, t: RunTimings) -> int:
    return _line(text, t.span[0])
