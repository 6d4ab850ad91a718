"""The local stand-in for a phone's ``llama_main``: ExecuTorch's ``TextLLMRunner`` in a child.

``python -m pocketbench.backends.executorch.runner --model_path M --tokenizer_path T
--prompt_file F --max_new_tokens N --cpu_threads K --num_bos 1 --temperature 0 --warmup=1``

The flags are ``llama_main``'s own (gflags spelling), so one argv builder
serves both.  The C++ runner prints the report itself (``PyTorchObserver``
JSON on stdout, the ``stats.h`` block on stderr), exactly as ``llama_main``
does; this script adds nothing a parser needs.  A failure is one line on
stderr starting with ``error:`` and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys

PREFIX = "pocketbench-executorch-runner"


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "t", "yes", "y"):
        return True
    if low in ("0", "false", "f", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PREFIX, description="Run an ExecuTorch LLM like llama_main.")
    ap.add_argument("--model_path", required=True)
    ap.add_argument("--tokenizer_path", required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--prompt")
    group.add_argument("--prompt_file")
    ap.add_argument("--max_new_tokens", type=int, default=-1)
    ap.add_argument("--seq_len", type=int, default=-1)
    ap.add_argument("--cpu_threads", type=int, default=-1)
    ap.add_argument("--num_bos", type=int, default=0)
    ap.add_argument("--num_eos", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--warmup", type=_bool, nargs="?", const=True, default=False)
    return ap


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def fail(message: str, code: int = 1) -> int:
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.prompt_file is not None:
        try:
            with open(args.prompt_file, encoding="utf-8") as f:
                prompt = f.read()
        except OSError as exc:
            return fail(f"cannot read the prompt file {args.prompt_file}: {exc.strerror}")
    else:
        prompt = args.prompt
    for label, path in (("model", args.model_path), ("tokenizer", args.tokenizer_path)):
        if not os.path.isfile(path):
            return fail(f"{label} file {path} does not exist")

    try:
        # The runner needs these kernels registered before it loads a model.
        import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401
        import executorch.kernels.quantized  # noqa: F401
        from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner
        from executorch.extension.pybindings import portable_lib
    except ImportError as exc:
        return fail(f"executorch is not installed here ({exc})", 2)

    # Printed before the model exists: what the interpreter and torch cost,
    # so that a reader can subtract it from this host's peak RSS.
    print(
        f"{PREFIX}: RSS before loading the model: {_rss_mib():.1f} MiB", file=sys.stderr, flush=True
    )
    if args.cpu_threads > 0:
        portable_lib._unsafe_reset_threadpool(args.cpu_threads)

    try:
        runner = TextLLMRunner(args.model_path, args.tokenizer_path)
    except RuntimeError as exc:
        return fail(
            f"cannot load {args.model_path} with {args.tokenizer_path}: {exc} "
            "(a corrupt or incompatible .pte, or a tokenizer of another format?)"
        )

    def config(warming: bool) -> GenerationConfig:
        return GenerationConfig(
            echo=False,
            max_new_tokens=args.max_new_tokens,
            seq_len=args.seq_len,
            temperature=args.temperature,
            num_bos=args.num_bos,
            num_eos=args.num_eos,
            warming=warming,
        )

    try:
        if args.warmup:
            # llama_main --warmup: one unreported generation, then the stats are reset.
            runner.generate(prompt, config(True))
            runner.reset()
        runner.generate(prompt, config(False))
    except RuntimeError as exc:
        return fail(f"generation failed: {exc} (see the runner's log above)")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
