"""Read an LLM .pte's metadata methods (run as a child process; prints one JSON object).

``python -m pocketbench.backends.executorch.inspect_pte MODEL.pte``

``export_llama`` stores the model's constants as methods (``get_vocab_size``,
``get_max_context_len``, ``get_bos_id``, ``get_eos_ids``, ...).  Loading only
those methods is cheap, and it is how a corrupt file or a tokenizer of the
wrong vocabulary is caught before a single measured run.  Exit code 1 and an
``error:`` line when the file is not a loadable program.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m pocketbench.backends.executorch.inspect_pte MODEL.pte",
            file=sys.stderr,
        )
        return 2
    path = args[0]
    try:
        from executorch.runtime import Runtime
    except ImportError as exc:
        print(f"error: executorch is not installed ({exc})", file=sys.stderr)
        return 2
    try:
        program = Runtime.get().load_program(path)
        names = sorted(program.method_names)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {path} is not a loadable ExecuTorch program ({exc})", file=sys.stderr)
        return 1
    meta: dict[str, object] = {"methods": names}
    for name in names:
        if name == "forward" or not name.startswith(("get_", "use_", "enable_")):
            continue
        try:
            out = program.load_method(name).execute([])
        except (RuntimeError, ValueError) as exc:
            print(f"error: {path}: metadata method {name} fails ({exc})", file=sys.stderr)
            return 1
        values = [v.item() if hasattr(v, "item") else v for v in out]
        meta[name] = values if name == "get_eos_ids" else (values[0] if values else None)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
