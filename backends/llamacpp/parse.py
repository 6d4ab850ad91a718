"""Parsers for what llama.cpp tools print: timing lines, llama-bench JSON, versions, token ids.

Pure functions and named constructors over text; nothing here runs a tool.
Three generations of llama.cpp timing output are understood::

    common_perf_print:    sampling time = ...          (2025-, llama-completion;
    common_perf_print: prompt eval time = ...           lines may carry a
    common_perf_print:        eval time = ...           "0.00.067.137 I " prefix)
    llama_perf_context_print: prompt eval time = ...   (late 2024 - 2025)
    llama_print_timings: prompt eval time = ...        (2023 - mid 2024)

Each prints ``prompt eval time = X ms / N tokens`` and ``eval time = X ms /
N runs``.  The first generated token is sampled from the prompt's logits, so
a run that generates G tokens reports G - 1 eval runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from attrs import frozen

from pocketbench.plugin import Metrics, ParseError

_TIMING_FUNCS = (
    "common_perf_print|llama_perf_context_print|llama_perf_sampler_print|llama_print_timings"
)
#: One timing line: ``<func>: <what> = <ms> ms [/ <n> tokens|runs] ...``.
_TIMING = re.compile(
    rf"(?P<func>{_TIMING_FUNCS}):\s+(?P<what>load|prompt eval|eval|sample|sampling|samplers|total) time"
    r"\s*=\s*(?P<ms>[0-9]+(?:\.[0-9]*)?)\s*ms(?:\s*/\s*(?P<n>[0-9]+)\s*(?:tokens|runs))?"
)


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:200]
    return ""


@frozen(kw_only=True)
class RunTimings:
    """The timing figures one llama.cpp generation run printed about itself.

    Times are milliseconds as the tool measured them; counts are the tool's.
    """

    #: Which printer produced them ("common_perf_print", "llama_perf_context_print",
    #: "llama_print_timings").
    style: str
    prompt_ms: float
    prompt_tokens: int
    eval_ms: float
    eval_runs: int
    load_ms: float | None = None
    sampling_ms: float | None = None
    total_ms: float | None = None

    @property
    def generated_tokens(self) -> int:
        """Tokens generated: one sampled from the prompt's logits plus one per eval run."""
        return self.eval_runs + 1

    @classmethod
    def from_log(cls, text: str) -> RunTimings:
        """Parse the timing block of a llama-completion / llama-cli / main run.

        When the text holds several blocks, the last value of each line wins
        (the block printed at exit).

        :raises ParseError: when the prompt-eval or eval line is missing.
        """
        found: dict[str, tuple[str, float, int | None]] = {}
        for m in _TIMING.finditer(text):
            n = int(m["n"]) if m["n"] is not None else None
            found[m["what"]] = (m["func"], float(m["ms"]), n)
        if "prompt eval" not in found or "eval" not in found:
            if found:  # e.g. llama.cpp before April 2023 folded the prompt into "eval"
                raise ParseError(
                    "llama.cpp timing lines without separate prompt eval and eval times"
                )
            tail = _last_line(text)
            raise ParseError(
                "no llama.cpp timing lines in the output"
                + (f" (last line: {tail})" if tail else "")
            )
        p_func, p_ms, p_n = found["prompt eval"]
        _, e_ms, e_n = found["eval"]
        if p_n is None or e_n is None:
            raise ParseError("llama.cpp timing lines without token counts")
        sampling = found.get("sampling") or found.get("sample")
        return cls(
            style=p_func,
            prompt_ms=p_ms,
            prompt_tokens=p_n,
            eval_ms=e_ms,
            eval_runs=e_n,
            load_ms=found["load"][1] if "load" in found else None,
            sampling_ms=sampling[1] if sampling else None,
            total_ms=found["total"][1] if "total" in found else None,
        )

    def to_metrics(
        self, *, prompt_tokens: int, gen_tokens: int, peak_rss_bytes: int | None = None
    ) -> Metrics:
        """The run's :class:`Metrics`, after checking it ran the asked workload.

        - ``prompt_tps``: the tool's prompt-eval rate (prompt tokens / prompt eval time).
        - ``generation_tps``: the tool's eval rate (eval runs / eval time): the
          per-token decode speed, the figure llama-bench's ``tg`` also measures.
        - ``total_tps``: :meth:`Metrics.total_rate` of (prompt + generated tokens)
          over (prompt eval + eval time); all generated tokens come out of
          those two phases (the first one from the prompt's logits).
        - ``ttft_ms`` (load excluded): prompt eval time plus one token's share
          of the sampling time, i.e. from the start of prompt processing until
          the first new token is chosen.  Without a sampling line it is the
          prompt eval time alone.
        - ``load_ms``: the tool's load time (model load to the first evaluation).

        :raises ParseError: when the counts differ from the workload.
        """
        if self.prompt_tokens != prompt_tokens:
            raise ParseError(
                f"the run evaluated {self.prompt_tokens} prompt tokens, the workload asks for "
                f"{prompt_tokens} (tokenizer mismatch between llama-tokenize and the runner?)"
            )
        if self.generated_tokens != gen_tokens:
            raise ParseError(
                f"the run generated {self.generated_tokens} tokens ({self.eval_runs} eval runs), "
                f"the workload asks for {gen_tokens}"
            )
        if self.prompt_ms <= 0 or self.eval_ms <= 0:
            raise ParseError("llama.cpp reported a zero prompt eval or eval time")
        first_sample = (self.sampling_ms or 0.0) / gen_tokens
        return Metrics(
            prompt_tokens=self.prompt_tokens,
            gen_tokens=self.generated_tokens,
            prompt_tps=self.prompt_tokens * 1000.0 / self.prompt_ms,
            generation_tps=self.eval_runs * 1000.0 / self.eval_ms,
            total_tps=Metrics.total_rate(
                self.prompt_tokens,
                self.generated_tokens,
                self.prompt_ms / 1000.0,
                self.eval_ms / 1000.0,
            ),
            load_ms=self.load_ms,
            ttft_ms=self.prompt_ms + first_sample,
            peak_rss_bytes=peak_rss_bytes,
        )


def bench_figures(text: str) -> dict[str, float]:
    """llama-bench ``-o json`` output as ``llamabench_{pp,tg}_{tps,stddev_tps}`` figures.

    :raises ParseError: when the text holds no llama-bench JSON results.
    """
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ParseError("no llama-bench JSON in the output" + _tail(text))
    try:
        rows: Any = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ParseError(f"llama-bench JSON does not parse ({exc.msg})") from None
    out: dict[str, float] = {}
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or "avg_ts" not in row:
            continue
        kind = "tg" if row.get("n_gen", 0) and not row.get("n_prompt", 0) else "pp"
        out[f"llamabench_{kind}_tps"] = float(row["avg_ts"])
        out[f"llamabench_{kind}_stddev_tps"] = float(row.get("stddev_ts", 0.0))
    if not out:
        raise ParseError("llama-bench JSON has no results")
    return out


def _tail(text: str) -> str:
    tail = _last_line(text)
    return f" (last line: {tail})" if tail else ""


@frozen(kw_only=True)
class ToolVersion:
    """What ``<tool> --version`` says about its build."""

    version: str
    commit: str
    built_with: str = ""

    @classmethod
    def from_text(cls, text: str) -> ToolVersion:
        """Parse ``version: 0.5.0-dev (build 0, commit 0c1e570)`` or ``version: 3400 (97bdd26e)``.

        :raises ParseError: when no version line is present.
        """
        m = re.search(
            r"version:\s*(?P<v>\S+)\s*\((?:build\s+\S+,\s*commit\s+)?(?P<c>[0-9a-zA-Z]+)\)", text
        )
        if not m:
            raise ParseError("no version line in the output" + _tail(text))
        built = re.search(r"built with (.+)", text)
        return cls(version=m["v"], commit=m["c"], built_with=built[1].strip() if built else "")


def token_ids(text: str) -> list[int]:
    """The ``[1, 2, 3]`` list that ``llama-tokenize --ids`` prints.

    :raises ParseError: when no such list is present.
    """
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            body = line[1:-1].strip()
            try:
                return [int(x) for x in body.split(",")] if body else []
            except ValueError:
                continue
    raise ParseError("no token id list in llama-tokenize output" + _tail(text))
