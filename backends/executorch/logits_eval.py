"""Read a .pte's next-token logits with ExecuTorch's Python runtime (run as a child process).

``python -m pocketbench.backends.executorch.logits_eval REQUEST.json``

The request (written by :mod:`.quality`) names the .pte, its tokenizer and a
:class:`~pocketbench.core.api.quality.QualityRequest`; the child prints one
JSON line: the :class:`~pocketbench.core.api.quality.QualityResult`, or
``{"error": ..., "kind": "usage"|"setup"}``.

An ``export_llama`` program with a KV cache returns only the last position's
logits, so each window is fed as one prefill up to the first scored position
and then one token at a time through the cache: every scored position's
logits come from the program exactly as a phone would run it.  The windows,
scored positions and statistics are the protocol's (docs/method.md), the same
as llama-perplexity's.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def _load(pte: str, threads: int) -> Any:
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401 - registers kernels
    import executorch.kernels.quantized  # noqa: F401 - registers kernels
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    with contextlib.suppress(AttributeError):
        portable_lib._unsafe_reset_threadpool(threads)
    return Runtime.get().load_program(pte).load_method("forward")


class Program:
    """The .pte's forward method: (tokens [1, n], start position) -> last logits."""

    def __init__(self, pte: str, threads: int) -> None:
        self.method = _load(pte, threads)
        meta = self.method.metadata
        if meta.num_inputs() != 2:
            raise ValueError(
                f"its forward takes {meta.num_inputs()} inputs, not (tokens, input_pos): "
                "export it with export_llama -kv"
            )
        sizes = meta.input_tensor_meta(0).sizes
        self.max_prefill = int((sizes() if callable(sizes) else sizes)[-1])

    def __call__(self, tokens: list[int], pos: int) -> Any:
        import numpy as np
        import torch

        out = self.method.execute(
            [torch.tensor([tokens], dtype=torch.long), torch.tensor([pos], dtype=torch.long)]
        )
        logits = out[0].float().numpy()
        return np.asarray(logits).reshape(-1, logits.shape[-1])[-1]


def window_logits(prog: Program, window: list[int], first: int) -> Any:
    """Logits at positions ``first .. len(window)-2`` of one window (an empty cache first)."""
    import numpy as np

    rows = []
    # Prefill through the first scored position (in pieces the program accepts);
    # positions start at 0 again, so earlier windows' cache entries are never attended.
    pos = 0
    while pos < first + 1:
        piece = window[pos : min(first + 1, pos + prog.max_prefill)]
        last = prog(piece, pos)
        pos += len(piece)
    rows.append(last)
    for p in range(first + 1, len(window) - 1):
        rows.append(prog([window[p]], p))
    return np.stack(rows)


def evaluate(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from pocketbench.plugin import QualityProtocol, logprobs

    protocol = QualityProtocol(**spec["protocol"])
    ctx, first = protocol.ctx, protocol.first
    prog = Program(spec["pte"], int(spec["threads"]))
    if spec["make_reference"]:
        from pocketbench.backends.executorch.tokenizer import Tokenizer

        tok = Tokenizer(Path(spec["tokenizer"]))
        text = Path(spec["text"]).read_text(encoding="utf-8")
        tokens = tok.encode(text, 0)
        if len(tokens) < protocol.tokens_needed:
            return {"kind": "usage", "error": str(protocol.too_short(spec["text"], len(tokens)))}
        tokens = tokens[: protocol.chunks * ctx]
        n_vocab = int(spec["n_vocab"])
        nll: list[Any] = []
        with open(spec["reference"], "wb") as f:
            logprobs.write_header(f, ctx, n_vocab, tokens)
            for c in range(protocol.chunks):
                window = tokens[c * ctx : (c + 1) * ctx]
                logits = window_logits(prog, window, first)
                f.write(logprobs.encode_rows(logits))
                logq = logprobs.log_softmax(logits)
                targets = np.asarray(window[first + 1 :])
                nll.append(-logq[np.arange(len(targets)), targets])
        mean, se = logprobs.mean_se(np.concatenate(nll))
        return {
            "scored": protocol.scored,
            "eval_tokens": len(tokens),
            "n_vocab": n_vocab,
            "nll_mean": mean,
            "nll_se": se,
            "chunk_bos": None,
        }
    ref = Path(spec["reference"])
    header, tokens = logprobs.read_header(ref)
    if header.n_vocab != int(spec["n_vocab"]):
        return {
            "kind": "usage",
            "error": (
                f"{Path(spec['pte']).name} has a vocabulary of {spec['n_vocab']} tokens but the "
                f"reference has {header.n_vocab}: quality compares configurations of the same model"
            ),
        }
    bos = spec.get("chunk_bos")
    parts: list[logprobs.PositionScores] = []
    for c, ref_logp in enumerate(logprobs.iter_chunks(ref, header)):
        window = tokens[c * header.n_ctx : (c + 1) * header.n_ctx]
        if bos is not None:
            window = [int(bos), *window[1:]]
        logits = window_logits(prog, window, header.n_ctx // 2)
        targets = np.asarray(window[header.n_ctx // 2 + 1 :])
        parts.append(logprobs.score(ref_logp, logits, targets))
    kl = np.concatenate([p.kl for p in parts])
    top = np.concatenate([p.same_top for p in parts])
    nll_q = np.concatenate([p.nll for p in parts])
    nll_b = np.concatenate([p.nll_ref for p in parts])
    kl_mean, kl_se = logprobs.mean_se(kl)
    top_mean = float(top.mean())
    n = len(top)
    nll_mean, nll_se = logprobs.mean_se(nll_q)
    ratio, ratio_se = logprobs.mean_se(nll_q - nll_b)
    return {
        "scored": int(n),
        "eval_tokens": len(tokens),
        "n_vocab": header.n_vocab,
        "nll_mean": nll_mean,
        "nll_se": nll_se,
        "kl_mean": kl_mean,
        "kl_se": kl_se,
        "kl_p99": logprobs.percentile(kl, 0.99),
        "top1": top_mean,
        "top1_se": (top_mean * (1 - top_mean) / (n - 1)) ** 0.5 if n > 1 else 0.0,
        "ln_ratio": ratio,
        "ln_ratio_se": ratio_se,
        "nll_ref": float(nll_b.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    try:
        result = evaluate(spec)
    except (RuntimeError, ValueError) as exc:
        result = {"kind": "setup", "error": f"cannot read logits of {spec['pte']}: {exc}"}
    # Our line is the last one on stdout; the runtime's own logging goes to stderr.
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the runtime's threads need not be joined


if __name__ == "__main__":
    sys.exit(main())
