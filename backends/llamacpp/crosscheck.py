"""``--crosscheck``: llama-bench run on the job's own workload, so the figures meant to agree do.

llama-bench's ``tgG`` decodes from an empty context; a pocketbench run
decodes after its P-token prompt, with P tokens already in the KV cache.
Attention over a longer context is slower, so the empty-context figure
reads 20-30% higher on small models (stories110m Q4_0, 2 threads: 303 vs
242 tok/s) and is no check at all.  So llama-bench runs at the job's depth:

- ``depth`` (builds with ``-d/--n-depth``, 2025-): ``-p P -n G -d 0,P``.
  ``ppP`` at depth 0 pairs with prompt_tps (both evaluate P prompt tokens
  into an empty context); ``tgG @ dP`` pairs with generation_tps (both
  decode G tokens after P).  ``tgG`` at depth 0 is kept as
  ``llamabench_tg_empty_tps`` to show the difference.
- ``pg`` (builds with ``-pg`` but no ``-d``, mid 2024-): ``-p P -n G -pg P,G``.
  ``ppP`` pairs with prompt_tps and ``pgP,G`` ((P + G) / time of prompt
  then generation) with total_tps; tg is from an empty context only.
- ``empty`` (older builds): ``-p P -n G``; only ``ppP`` pairs.

Every mode's pairing is written into the job's description, so a report
says which figures are meant to agree.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from pocketbench.backends.llamacpp.tools import has_flag
from pocketbench.plugin import MetricInfo, ParseError, Workload

#: Repetitions of each llama-bench test.
REPETITIONS = 3

_SEE = "the configuration's crosscheck_pairing says which of the run's figures it pairs with"
#: The figures the cross-check adds to the first measured run's Metrics.extra.
METRICS = (
    MetricInfo(name="llamabench_pp_tps", label="llama-bench ppP (empty context)", unit="tokens/s",
               note=f"llama-bench's prompt processing of the same P tokens; {_SEE}."),
    MetricInfo(name="llamabench_tg_tps", label="llama-bench tgG @ dP", unit="tokens/s",
               note="llama-bench's generation after a P-token context: the same decode as a run."),
    MetricInfo(name="llamabench_tg_empty_tps", label="llama-bench tgG (empty context)",
               unit="tokens/s",
               note="llama-bench's default generation test, from an empty context: reads higher"
                    " than a run's generation, which decodes after its prompt."),
    MetricInfo(name="llamabench_pg_tps", label="llama-bench ppP+tgG", unit="tokens/s",
               note=f"llama-bench's prompt then generation, (P + G) / time; {_SEE}."),
)  # fmt: skip

_PAIRING = {
    "depth": (
        "llama-bench pp{p} (empty context) pairs with prompt_tps, tg{g} @ d{p} (decoding after the"
        " {p}-token prompt, as a run does) with generation_tps; tg{g} from an empty context is"
        " llamabench_tg_empty_tps and reads higher"
    ),
    "pg": (
        "llama-bench pp{p} pairs with prompt_tps and pp{p}+tg{g} (llamabench_pg_tps) with total_tps;"
        " this llama-bench has no -d, so its tg{g} decodes from an empty context"
        " (llamabench_tg_empty_tps) and reads higher than generation_tps"
    ),
    "empty": (
        "llama-bench pp{p} pairs with prompt_tps; this llama-bench has neither -d nor -pg, so its"
        " tg{g} decodes from an empty context (llamabench_tg_empty_tps) and reads higher than"
        " generation_tps"
    ),
}


@frozen(kw_only=True)
class CrossCheck:
    """How llama-bench runs for one job, and what its figures pair with."""

    argv: tuple[str, ...]
    #: "depth", "pg" or "empty" (see the module docstring).
    mode: str
    pairing: str


def plan(bench: str, help_text: str, model: str, w: Workload) -> CrossCheck:
    """The llama-bench command for workload ``w``, chosen by what ``bench --help`` offers."""
    p, g = str(w.prompt_tokens), str(w.gen_tokens)
    argv = [bench, "-m", model, "-t", str(w.threads), "-p", p, "-n", g]
    if has_flag(help_text, "-d") or has_flag(help_text, "--n-depth"):
        mode = "depth"
        argv += ["-d", f"0,{p}"]
    elif has_flag(help_text, "-pg"):
        mode = "pg"
        argv += ["-pg", f"{p},{g}"]
    else:
        mode = "empty"
    argv += ["-r", str(REPETITIONS), "-o", "json"]
    pairing = _PAIRING[mode].format(p=p, g=g)
    return CrossCheck(argv=tuple(argv), mode=mode, pairing=pairing)


def figures(text: str, w: Workload, mode: str) -> dict[str, float]:
    """llama-bench ``-o json`` output as ``llamabench_*`` figures of the workload's tests.

    :raises ParseError: when a test the mode needs is missing.
    """
    rows = _rows(text)
    p, g = w.prompt_tokens, w.gen_tokens

    def find(n_prompt: int, n_gen: int, depth: int) -> dict[str, Any] | None:
        return next(
            (
                r for r in rows
                if int(r.get("n_prompt", 0)) == n_prompt and int(r.get("n_gen", 0)) == n_gen
                and int(r.get("n_depth", 0)) == depth
            ),
            None,
        )  # fmt: skip

    out: dict[str, float] = {}
    wanted = {"pp": find(p, 0, 0), "tg_empty": find(0, g, 0)}
    if mode == "depth":
        wanted["tg"] = find(0, g, p)
    if mode == "pg":
        wanted["pg"] = find(p, g, 0)
    for name, row in wanted.items():
        if row is None:
            if name in ("pp", "tg", "pg"):
                raise ParseError(f"llama-bench printed no {name} test for this workload")
            continue
        out[f"llamabench_{name}_tps"] = float(row["avg_ts"])
        out[f"llamabench_{name}_stddev_tps"] = float(row.get("stddev_ts", 0.0))
    return out


def _rows(text: str) -> list[dict[str, Any]]:
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ParseError("no llama-bench JSON in the output")
    try:
        rows = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ParseError(f"llama-bench JSON does not parse ({exc.msg})") from None
    rows = (
        [r for r in rows if isinstance(r, dict) and "avg_ts" in r] if isinstance(rows, list) else []
    )
    if not rows:
        raise ParseError("llama-bench JSON has no results")
    return rows
