"""Parsers for what llama.cpp tools print: timing lines, versions, token ids.

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

import math
import re

from attrs import frozen

from pocketbench.plugin import Metrics, ParseError

_TIMING_FUNCS = (
    "common_perf_print|llama_perf_context_print|llama_perf_sampler_print|llama_perf_print"
    "|llama_print_timings"
)
#: A number as llama.cpp's printf wrote it: a decimal point or, under a
#: ``de_DE``-style locale, a decimal comma; also what a broken clock prints
#: (negative, inf, nan), so it is reported instead of silently skipped.
_NUMBER = r"[-+]?(?:[0-9]+(?:[.,][0-9]*)?|inf|nan)"
#: One timing line: ``<func>: <what> = <ms> ms [/ <n> tokens|runs] ...``.
_TIMING = re.compile(
    rf"(?P<func>{_TIMING_FUNCS}):\s+(?P<what>load|prompt eval|eval|sample|sampling|samplers|total)"
    rf" time\s*=\s*(?P<ms>{_NUMBER})\s*ms(?:\s*/\s*(?P<n>[-+]?[0-9]+)\s*(?:tokens|runs))?",
    re.IGNORECASE,
)


def number(text: str) -> float:
    """A number llama.cpp printed, decimal comma or point."""
    return float(text.replace(",", "."))


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
    #: "llama_perf_print", "llama_print_timings").
    style: str
    prompt_ms: float
    prompt_tokens: int
    eval_ms: float
    eval_runs: int
    load_ms: float | None = None
    sampling_ms: float | None = None
    total_ms: float | None = None
    #: The count on the total line (prompt tokens + eval runs), when printed.
    total_tokens: int | None = None
    #: Where the block's lines are in the text it was read from (start, end offsets).
    span: tuple[int, int] = (0, 0)

    @property
    def generated_tokens(self) -> int:
        """Tokens generated: one sampled from the prompt's logits plus one per eval run."""
        return self.eval_runs + 1

    @classmethod
    def from_log(cls, text: str) -> RunTimings:
        """Parse the timing block of a llama-completion / llama-cli / main run.

        When the text holds several blocks, the last value of each line wins
        (the block printed at exit).  Lines may carry any prefix (timestamps,
        log levels, text that ran into them), TABs and padding, and decimal
        commas.

        :raises ParseError: when the prompt-eval or eval line is missing.
        """
        blocks = cls.all_from_log(text)
        if not blocks:
            cls._raise_missing(text)
        return blocks[-1]

    @classmethod
    def all_from_log(cls, text: str) -> list[RunTimings]:
        """Every complete timing block in ``text``, in order (one per run in a concatenated log).

        A block ends with its eval line (or the total line after it); lines of
        a block that is cut short are ignored.  Returns ``[]`` when there is none.
        """
        out: list[RunTimings] = []
        found: dict[str, tuple[str, float, int | None]] = {}
        span = [0, 0]
        for m in _TIMING.finditer(text):
            what = m["what"].lower()
            if what in found and (what != "total" or "eval" not in found):
                # A line seen twice before the block completed: a new block began.
                if "prompt eval" in found and "eval" in found:
                    out.append(cls._from_found(found, span))
                found = {}
            if not found:
                span[0] = text.rfind("\n", 0, m.start()) + 1
            n = int(m["n"]) if m["n"] is not None else None
            found[what] = (m["func"], number(m["ms"]), n)
            end = text.find("\n", m.end())
            span[1] = len(text) if end < 0 else end
            if what == "total" and "prompt eval" in found and "eval" in found:
                out.append(cls._from_found(found, span))
                found = {}
        if "prompt eval" in found and "eval" in found:
            out.append(cls._from_found(found, span))
        return out

    @staticmethod
    def _raise_missing(text: str) -> None:
        found = {m["what"].lower() for m in _TIMING.finditer(text)}
        if found:  # e.g. llama.cpp before April 2023 folded the prompt into "eval"
            raise ParseError("llama.cpp timing lines without separate prompt eval and eval times")
        tail = _last_line(text)
        raise ParseError(
            "no llama.cpp timing lines in the output" + (f" (last line: {tail})" if tail else "")
        )

    @classmethod
    def _from_found(
        cls, found: dict[str, tuple[str, float, int | None]], span: list[int]
    ) -> RunTimings:
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
            total_tokens=found["total"][2] if "total" in found else None,
            span=(span[0], span[1]),
        )

    def impossible(self) -> str | None:
        """Why these figures cannot be true (one line naming the field), or None.

        Times must be finite and not negative, prompt-eval and eval times
        positive (a rate needs them), no part longer than the whole run, and
        the total line's token count must be prompt tokens + eval runs.
        """
        times = {
            "load time": self.load_ms,
            "prompt eval time": self.prompt_ms,
            "eval time": self.eval_ms,
            "sampling time": self.sampling_ms,
            "total time": self.total_ms,
        }
        for name, value in times.items():
            if value is not None and not (math.isfinite(value) and value >= 0):
                return f"{name} = {value:g} ms is impossible"
        for name, value in (("prompt eval time", self.prompt_ms), ("eval time", self.eval_ms)):
            if value == 0:
                return f"{name} = 0 ms: no rate can be computed from it"
        if self.prompt_tokens < 1 or self.eval_runs < 0:
            return f"prompt eval tokens {self.prompt_tokens} / eval runs {self.eval_runs} is impossible"
        if self.total_ms is not None and self.total_ms > 0:
            # 1% and 1 ms of slack: each figure is rounded to 0.01 ms and
            # measured by its own clock reads.
            limit = self.total_ms * 1.01 + 1.0
            if self.sampling_ms is not None and self.sampling_ms > limit:
                return (
                    f"sampling time {self.sampling_ms:g} ms is longer than the whole run"
                    f" (total time {self.total_ms:g} ms)"
                )
            if self.prompt_ms + self.eval_ms > limit:
                return (
                    f"prompt eval + eval time ({self.prompt_ms + self.eval_ms:g} ms) is longer than"
                    f" the whole run (total time {self.total_ms:g} ms)"
                )
        if (
            self.total_tokens is not None
            and self.total_tokens != self.prompt_tokens + self.eval_runs
        ):
            return (
                f"total time's {self.total_tokens} tokens contradict {self.prompt_tokens} prompt"
                f" tokens + {self.eval_runs} eval runs"
            )
        return None

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

        :raises ParseError: when the counts differ from the workload, or a
            value is impossible (:meth:`impossible` names the field).
        """
        why = self.impossible()
        if why is not None:
            raise ParseError(why)
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
