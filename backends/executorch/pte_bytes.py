"""Bytes one ExecuTorch decode step reads, from the .pte's own tables.

``python -m pocketbench.backends.executorch.pte_bytes MODEL.pte`` prints one
JSON object (run as a child process: reading a program imports torch).

Weights: every constant the program carries (the constant buffer, the
delegates' named data and inline blobs) is read once per generated token,
except the tables of embedding ops, which are row lookups.  KV cache: the
mutable buffers the ``update_cache`` ops write, laid out
``[batch, positions, heads, head_dim]`` (``export_llama``'s layout); one
position of context is their size divided by their number of positions.
The parent (:func:`decode_bytes`) caches the answer by the file's digest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pocketbench.plugin import DecodeBytes, SetupError, cache_dir, file_digest, write_atomic

#: Bumped when the way bytes are counted changes (old cached answers are recomputed).
VERSION = 1
#: ExecuTorch ScalarType -> bytes per element (the types a model's tensors use).
ELEMENT_BYTES = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 11: 1, 12: 1, 13: 1, 14: 4, 15: 2, 22: 2, 23: 1, 24: 1, 27: 2, 28: 4, 29: 8}  # fmt: skip


def count(pte: Path) -> dict[str, Any]:
    """The counts of one program (runs in the child process)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    pte_file = deserialize_pte_binary(pte.read_bytes())
    program = pte_file.program
    constants = [len(b.storage) for b in program.constant_buffer]
    named = pte_file.named_data.buffers if pte_file.named_data is not None else []
    total = sum(constants) + sum(len(b) for b in named)
    total += sum(len(d.data) for d in program.backend_delegate_data)
    plan = next(p for p in program.execution_plan if p.name == "forward")
    embedding, caches = 0, {}
    for chain in plan.chains:
        for instruction in chain.instructions:
            call = instruction.instr_args
            if type(call).__name__ != "KernelCall":
                continue
            op = plan.operators[call.op_index].name
            if "embedding" in op:
                for i in call.args:
                    t = plan.values[i].val
                    if type(t).__name__ == "Tensor" and t.data_buffer_idx > 0:
                        embedding += constants[t.data_buffer_idx]
            elif "update_cache" in op and len(call.args) > 1:
                t = plan.values[call.args[1]].val
                if type(t).__name__ == "Tensor" and len(t.sizes) == 4:
                    caches[call.args[1]] = t
    kv = 0
    for t in caches.values():
        elements = 1
        for d in t.sizes:
            elements *= d
        kv += elements * ELEMENT_BYTES.get(int(t.scalar_type), 4) // max(1, t.sizes[1])
    return {
        "version": VERSION,
        "weights_bytes": total - embedding,
        "embedding_bytes": embedding,
        "kv_bytes_per_position": kv,
        "kv_caches": len(caches),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m pocketbench.backends.executorch.pte_bytes MODEL.pte", file=sys.stderr
        )
        return 2
    try:
        print(json.dumps(count(Path(args[0]))))
    except Exception as exc:  # an exotic file: the parent makes it one line
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def decode_bytes(pte: Path) -> DecodeBytes:
    """The counts of ``pte`` (cached by content); SetupError (one line) when unreadable."""
    memo = cache_dir("executorch", "decode-bytes") / f"{file_digest(pte)}.json"
    data = _valid(memo)
    if data is None:
        proc = subprocess.run(
            [sys.executable, "-m", "pocketbench.backends.executorch.pte_bytes", str(pte)],
            capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL,
        )  # fmt: skip
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        if proc.returncode != 0 or not proc.stdout.strip():
            why = lines[-1][len("error: ") :] if lines else f"exit code {proc.returncode}"
            raise SetupError(f"{pte}: cannot count the bytes a decode step reads ({why[:200]})")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        write_atomic(memo, json.dumps(data).encode())
    caches = data["kv_caches"]
    kv_text = f"{caches} KV cache buffers" if caches else "no KV cache found"
    return DecodeBytes(
        weights_bytes=data["weights_bytes"],
        kv_bytes_per_position=data["kv_bytes_per_position"],
        source=f".pte constants (embedding tables left out: lookups); {kv_text}",
        embedding_bytes=data["embedding_bytes"],
    )


def _valid(memo: Path) -> dict[str, Any] | None:
    """A cached answer, only when it is whole and of this version."""
    try:
        data = json.loads(memo.read_text())
    except (OSError, ValueError):
        return None
    keys = ("weights_bytes", "embedding_bytes", "kv_bytes_per_position", "kv_caches")
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    if not all(isinstance(data.get(k), int) and data[k] >= 0 for k in keys):
        return None
    return data if data["weights_bytes"] > 0 else None


if __name__ == "__main__":
    sys.exit(main())
