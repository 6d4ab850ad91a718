"""Read the report ExecuTorch's LLM runners print, on a phone and on this host.

``llama_main`` and the Python ``TextLLMRunner`` share ``print_report`` in
``extension/llm/runner/stats.h``: a ``PyTorchObserver {json}`` line on stdout
(raw millisecond timestamps and token counts) and a block of ``ET_LOG`` lines
(``Prompt Tokens: ...``, ``Total inference time: ... Rate: ...``) on stderr,
or in logcat when a phone's build logs there.  The JSON is read first; the
block is the fallback.  Older runners print fewer JSON keys; only the ones
every version since 0.4 prints are needed.

Definitions (the llama.cpp backend's, see :class:`~pocketbench.core.api.model.Metrics`):

- a run of G new tokens: the first is sampled from the prompt's logits at
  the end of prefill; the runner then makes G - 1 decode steps and reports
  ``generated_tokens`` = G - 1 (llama.cpp reports G - 1 "eval runs");
- prompt evaluation time = ``prompt_eval_end - inference_start``
  (tokenisation, prefill and the first sample, as the runner counts it);
- generation time = ``inference_end - prompt_eval_end`` (the decode steps);
- ``generation_tps`` = decode steps / generation time (the runner's own rate);
- ``total_tps`` = (prompt tokens + G) / (prompt-eval + generation time);
- ``runner_total_rate`` = the runner's "Total inference time ... Rate",
  decode steps / whole inference time: the Galaxy A25 study's "Total Speed".
"""

from __future__ import annotations

import json
import math
import re

import attrs
from attrs import frozen

from pocketbench.plugin import (
    MetricInfo,
    Metrics,
    ParseError,
    ProcessResult,
    Workload,
    token_latency,
)

#: ExecuTorch's own "Total inference time ... Rate", kept in ``Metrics.extra``.
RUNNER_TOTAL_RATE = "runner_total_rate"
#: What this backend adds to every report (declared in its BackendInfo).
METRICS: tuple[MetricInfo, ...] = (
    MetricInfo(
        name=RUNNER_TOTAL_RATE,
        label="Runner's Own Total Rate (tokens/second)",
        unit="tokens/s",
        note=(
            'ExecuTorch\'s own "total rate" (runner_total_rate) is different: generated tokens'
            " only, divided by the whole inference time; it is shown separately where a runner"
            " reports it."
        ),
    ),
)

_OBSERVER = re.compile(r"PyTorchObserver\s+(\{[^{}]*\})")
#: A number as printf wrote it: decimal point, or decimal comma under a de_DE-style locale.
_NUM = r"([-+]?(?:\d+(?:[.,]\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan)"
_STATS = {
    "tokens": re.compile(r"Prompt Tokens:\s*(\d+)\s+Generated Tokens:\s*(\d+)"),
    "load": re.compile(rf"Model Load Time:\s*{_NUM}\s*\(seconds\)"),
    "total": re.compile(
        rf"Total inference time:\s*{_NUM}\s*\(seconds\)\s*Rate:\s*{_NUM}", re.IGNORECASE
    ),
    "prompt": re.compile(rf"Prompt evaluation:\s*{_NUM}\s*\(seconds\)\s*Rate:\s*{_NUM}"),
    "gen": re.compile(rf"Generated\s+(\d+)\s+tokens:\s*{_NUM}\s*\(seconds\)\s*Rate:\s*{_NUM}"),
    "ttft": re.compile(rf"Time to first generated token:\s*{_NUM}\s*\(seconds\)"),
    "sampling": re.compile(rf"Sampling time over\s+\d+\s+tokens:\s*{_NUM}\s*\(seconds\)"),
}
_RSS = re.compile(rf"RSS after [^:]*:\s*{_NUM}\s*MiB")
#: Printed by the local runner before it loads the model (interpreter + torch).
_RSS_BEFORE = re.compile(rf"RSS before loading the model:\s*{_NUM}\s*MiB")
_JSON_NEEDS = (
    "prompt_tokens",
    "generated_tokens",
    "inference_start_ms",
    "inference_end_ms",
    "prompt_eval_end_ms",
)


@frozen(kw_only=True)
class RunnerReport:
    """One generation as an ExecuTorch runner reported it (times in milliseconds)."""

    prompt_tokens: int
    generated_tokens: int
    prompt_eval_ms: float
    generation_ms: float
    load_ms: float | None = None
    ttft_ms: float | None = None
    #: The runner's "Total inference time ... Rate": generated tokens / inference time.
    runner_total_rate: float | None = None
    #: Largest "RSS after ..." figure the runner logged, MiB (0 = not supported there).
    rss_mib: float | None = None
    sampling_ms: float | None = None
    #: "observer" (the JSON line) or "stats" (the log block).
    source: str = "observer"
    #: (inference start, prompt-eval end, inference end), Unix-epoch ms, where the
    #: runner's clock is the wall clock (``time_in_ms`` reads CLOCK_REALTIME).
    phases_epoch_ms: tuple[float, float, float] | None = None

    @property
    def inference_ms(self) -> float:
        return self.prompt_eval_ms + self.generation_ms

    @classmethod
    def from_observer_json(cls, data: dict, rss_mib: float | None = None) -> RunnerReport:
        """From the ``PyTorchObserver`` JSON object."""
        missing = [k for k in _JSON_NEEDS if k not in data]
        if missing:
            raise ParseError(f"the PyTorchObserver line lacks {', '.join(missing)}")
        unit = float(data.get("SCALING_FACTOR_UNITS_PER_SECOND", 1000)) / 1000.0
        if not (math.isfinite(unit) and unit > 0):
            raise ParseError(
                "the PyTorchObserver line's SCALING_FACTOR_UNITS_PER_SECOND ="
                f" {data.get('SCALING_FACTOR_UNITS_PER_SECOND')!r} is impossible (it is 1000"
                " for milliseconds)"
            )
        start = float(data["inference_start_ms"])
        p_end = float(data["prompt_eval_end_ms"])
        end = float(data["inference_end_ms"])
        gen = int(data["generated_tokens"])
        inference = (end - start) / unit
        load = None
        if "model_load_start_ms" in data and "model_load_end_ms" in data:
            load = (float(data["model_load_end_ms"]) - float(data["model_load_start_ms"])) / unit
        ttft = None
        if data.get("first_token_ms"):
            ttft = (float(data["first_token_ms"]) - start) / unit
        sampling = data.get("aggregate_sampling_time_ms")
        return cls(
            prompt_tokens=int(data["prompt_tokens"]),
            generated_tokens=gen,
            prompt_eval_ms=(p_end - start) / unit,
            generation_ms=(end - p_end) / unit,
            load_ms=load,
            ttft_ms=ttft,
            runner_total_rate=gen / inference * 1000.0 if inference > 0 else None,
            rss_mib=rss_mib,
            sampling_ms=None if sampling is None else float(sampling) / unit,
            source="observer",
            phases_epoch_ms=_epoch_phases(start / unit, p_end / unit, end / unit),
        )

    @classmethod
    def from_stats_block(cls, text: str) -> RunnerReport:
        """From the ``stats.h`` log lines (any log prefix, tabs or spaces)."""
        found = {key: _last(rx, text) for key, rx in _STATS.items()}
        if found["tokens"] is None or found["prompt"] is None or found["gen"] is None:
            raise ParseError(
                "no ExecuTorch stats block (Prompt Tokens / Prompt evaluation / Generated lines)"
            )
        prompt_tokens, gen_tokens = int(found["tokens"][0]), int(found["tokens"][1])
        if int(found["gen"][0]) != gen_tokens:
            raise ParseError(
                f"'Generated {found['gen'][0]} tokens' contradicts 'Generated Tokens: {gen_tokens}'"
            )
        prompt_s = _float(found["prompt"][0])
        gen_s = _float(found["gen"][1])
        total = found["total"]
        return cls(
            prompt_tokens=prompt_tokens,
            generated_tokens=gen_tokens,
            prompt_eval_ms=prompt_s * 1000.0,
            generation_ms=gen_s * 1000.0,
            load_ms=_float(found["load"][0]) * 1000.0 if found["load"] else None,
            ttft_ms=_float(found["ttft"][0]) * 1000.0 if found["ttft"] else None,
            runner_total_rate=_float(total[1]) if total else None,
            rss_mib=max_rss_mib(text),
            sampling_ms=_float(found["sampling"][0]) * 1000.0 if found["sampling"] else None,
            source="stats",
        )

    @classmethod
    def from_output(cls, stdout: str, stderr: str) -> RunnerReport:
        """From a run's raw output: the last ``PyTorchObserver`` line, else the stats block."""
        text = stdout + "\n" + stderr
        rss = max_rss_mib(text)
        matches = _OBSERVER.findall(stdout) or _OBSERVER.findall(stderr)
        if matches:
            try:
                data = json.loads(matches[-1])
            except ValueError:
                data = None
            if isinstance(data, dict):
                try:
                    return cls.from_observer_json(data, rss_mib=rss)
                except ParseError:
                    pass
        try:
            return cls.from_stats_block(text)
        except ParseError:
            raise ParseError(
                "the runner printed no PyTorchObserver line and no stats block "
                "(did it crash? see the stored output)"
            ) from None

    def to_metrics(
        self,
        *,
        prompt_tokens: int,
        gen_tokens: int,
        peak_rss_bytes: int | None = None,
        extra: dict[str, float] | None = None,
    ) -> Metrics:
        """Metrics of a ``prompt_tokens`` + ``gen_tokens`` workload, after checking the counts.

        The runner must report ``gen_tokens - 1`` generated tokens (decode
        steps after the token prefill yields).  ``peak_rss_bytes`` is the
        device's measure of the process (the local device has it); without
        one, the runner's own RSS log is used.
        """
        new_tokens = self.generated_tokens + 1
        if (self.prompt_tokens, new_tokens) != (prompt_tokens, gen_tokens):
            hint = ""
            if self.prompt_tokens == prompt_tokens and new_tokens < gen_tokens:
                hint = (
                    " (it stopped early: the model emitted an end-of-sequence token; export it "
                    "with an end id it cannot emit, or use a llama_main with --ignore_eos)"
                )
            raise ParseError(
                f"the runner evaluated {self.prompt_tokens} prompt tokens and made {new_tokens} "
                f"new ones ({self.generated_tokens} decode steps), but the workload asked for "
                f"{prompt_tokens} and {gen_tokens}{hint}"
            )
        for name, value in (
            ("prompt evaluation time", self.prompt_eval_ms),
            ("generation time", self.generation_ms),
            ("model load time", self.load_ms),
            ("sampling time", self.sampling_ms),
        ):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ParseError(f"{name} = {value:g} ms is impossible")
        if self.sampling_ms is not None and self.sampling_ms > self.inference_ms + 1.0:
            raise ParseError(
                f"sampling time {self.sampling_ms:g} ms is longer than the whole inference"
                f" ({self.inference_ms:g} ms)"
            )
        if self.prompt_eval_ms <= 0 or self.generation_ms <= 0:
            raise ParseError(
                f"prompt evaluation took {self.prompt_eval_ms:g} ms and generation "
                f"{self.generation_ms:g} ms: below the runner's 1 ms clock; ask for more tokens"
            )
        prompt_s = self.prompt_eval_ms / 1000.0
        gen_s = self.generation_ms / 1000.0
        rss = peak_rss_bytes
        if rss is None and self.rss_mib:
            rss = int(self.rss_mib * 1024 * 1024)
        extra = {"inference_ms": self.inference_ms, **(extra or {})}
        if self.sampling_ms is not None:
            extra["sampling_ms"] = self.sampling_ms
        if self.runner_total_rate is not None:
            extra[RUNNER_TOTAL_RATE] = self.runner_total_rate
        return Metrics(
            prompt_tokens=self.prompt_tokens,
            gen_tokens=new_tokens,
            prompt_tps=self.prompt_tokens / prompt_s,
            generation_tps=self.generated_tokens / gen_s,
            total_tps=Metrics.total_rate(self.prompt_tokens, new_tokens, prompt_s, gen_s),
            load_ms=self.load_ms,
            ttft_ms=self.ttft_ms,
            peak_rss_bytes=rss,
            extra=extra,
            phases_epoch_ms=self.phases_epoch_ms,
        )


#: 2001-09-09 in epoch ms: a timestamp below it is not on the wall clock (another clock,
#: or a runner that counts from its own start), so it cannot be placed among the samples.
_EPOCH_FLOOR_MS = 1e12


def _epoch_phases(start: float, p_end: float, end: float) -> tuple[float, float, float] | None:
    """The phase timestamps when they are wall-clock epoch ms in order; else None."""
    if start >= _EPOCH_FLOOR_MS and start <= p_end <= end and math.isfinite(end):
        return (start, p_end, end)
    return None


def metrics_for(workload: Workload, result: ProcessResult) -> Metrics:
    """Metrics of one run of ``workload`` (the ``pocketbench_parse`` hook's work)."""
    report = RunnerReport.from_output(result.stdout, result.stderr)
    before = _last(_RSS_BEFORE, result.stderr)
    metrics = report.to_metrics(
        prompt_tokens=workload.prompt_tokens,
        gen_tokens=workload.gen_tokens,
        peak_rss_bytes=result.peak_rss_bytes,
        extra={"rss_before_load_mib": _float(before[0])} if before else None,
    )
    if result.arrivals is None:
        return metrics
    # The runner prints each token and flushes it, then a newline and its
    # PyTorchObserver report: the pieces before that newline are the tokens.
    # Offsets count back from the raw byte count (the text was decoded with
    # replacement characters; the report itself is ASCII).
    size = result.arrivals[-1][1] if result.arrivals else 0
    start = result.stdout.rfind("PyTorchObserver")
    if start > 0 and result.stdout[start - 1] == "\n":
        start -= 1
    tail = result.stdout[start:] if start >= 0 else ""
    stdout_end = size - len(tail.encode())
    latency = token_latency(
        result.arrivals,
        gen_tokens=metrics.gen_tokens,
        generation_tps=metrics.generation_tps,
        stdout_end=stdout_end,
    )
    return attrs.evolve(metrics, latency=latency)


def max_rss_mib(text: str) -> float | None:
    """The largest "RSS after ...: X MiB" the runner logged; None when absent or 0."""
    values = [_float(m) for m in _RSS.findall(text)]
    values = [v for v in values if v == v and v > 0]
    return max(values) if values else None


def _last(rx: re.Pattern[str], text: str) -> tuple[str, ...] | None:
    found = rx.findall(text)
    if not found:
        return None
    last = found[-1]
    return last if isinstance(last, tuple) else (last,)


def _float(text: str) -> float:
    return float(text.replace(",", "."))
