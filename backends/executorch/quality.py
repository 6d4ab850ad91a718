"""Quality with ExecuTorch's own runtime: the timed .pte's logits, read in a child process.

The child (:mod:`.logits_eval`) loads the same .pte that is timed with
ExecuTorch's Python runtime; torch and the model's memory stay out of
``bench``, and a program whose logits cannot be read is one clear line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from attrs import asdict

from pocketbench.plugin import (
    Job,
    Prepared,
    QualityRequest,
    QualityResult,
    SetupError,
    UsageError,
    run_child,
)

_TIMEOUT_S = 3 * 3600


def measure(job: Job, prepared: Prepared, request: QualityRequest) -> QualityResult:
    d = prepared.describe
    pte = d.get("model", "")
    vocab = d.get("vocab_size", "")
    if not pte or not vocab.isdigit():
        raise SetupError(
            f"{pte or job.model}: its vocabulary size is unknown (no get_vocab_size method), "
            "so its logits cannot be compared; export it with export_llama"
        )
    spec = {
        "pte": pte,
        "tokenizer": d.get("tokenizer", ""),
        "n_vocab": int(vocab),
        "text": str(request.text),
        "protocol": asdict(request.protocol),
        "reference": str(request.reference),
        "make_reference": request.make_reference,
        "chunk_bos": request.chunk_bos,
        "threads": request.threads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(spec))
        try:
            proc = run_child(
                [sys.executable, "-m", "pocketbench.backends.executorch.logits_eval", str(path)],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SetupError(f"reading the logits of {pte} took over {_TIMEOUT_S} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise SetupError(
            f"cannot read the logits of {Path(pte).name} with ExecuTorch's runtime "
            f"(exit {proc.returncode}: {last})"
        )
    data = json.loads(lines[-1])
    if "error" in data:
        raise (UsageError if data.get("kind") == "usage" else SetupError)(data["error"])
    what = "reference" if request.make_reference else "comparison"
    version = d.get("executorch_version") or d.get("executorch", "")
    method = f"ExecuTorch {version} Python runtime, {what} from the timed .pte"
    return QualityResult(**data, method=method)
