"""The options the ExecuTorch backend takes (``bench run --help`` and ``bench plugins`` list them)."""

from __future__ import annotations

from pathlib import Path

from pocketbench.plugin import OptionInfo


def _existing_file(value: str) -> str:
    if not Path(value).expanduser().is_file():
        raise ValueError(f"{value} is not a file")
    return value


def _seq_len(value: str) -> str:
    try:
        tokens = int(value)
    except ValueError:
        raise ValueError("give a whole number of tokens") from None
    if tokens < 8:
        raise ValueError(f"{tokens} is too small (at least 8 tokens)")
    return str(tokens)


def _switch(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return "1"
    if lowered in ("0", "false", "no", "off"):
        return "0"
    raise ValueError("use 1 or 0")


OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        name="llama_main",
        flag="--llama-main",
        help="ExecuTorch llama_main binary (for a phone).",
        check=_existing_file,
    ),
    OptionInfo(
        name="tokenizer",
        flag="--tokenizer",
        help="Tokenizer file for a .pte model.",
        check=_existing_file,
    ),
    OptionInfo(
        name="max_seq_len",
        help="Longest sequence the exported model takes (default: the preset's).",
        check=_seq_len,
    ),
    OptionInfo(
        name="et_model",
        help="export_llama's --model name for a checkpoint directory (default llama3_2).",
    ),
    OptionInfo(
        name="inprocess_warmup",
        help="Let the runner warm up inside each run before timing (1, default) or not (0).",
        check=_switch,
    ),
)
