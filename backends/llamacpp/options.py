"""The options the llama.cpp backend takes (``bench run --help`` and ``bench plugins`` list them)."""

from __future__ import annotations

from pathlib import Path

from pocketbench.plugin import OptionInfo


def _directory(value: str) -> str:
    if not Path(value).expanduser().is_dir():
        raise ValueError(f"{value} is not a directory; point it at llama.cpp's build/bin")
    return value


OPTIONS: tuple[OptionInfo, ...] = (
    OptionInfo(
        name="llamacpp_bin",
        flag="--llamacpp-bin",
        help="Directory of your own llama.cpp build (an Android build for a phone).",
        check=_directory,
    ),
    OptionInfo(
        name="crosscheck",
        flag="--crosscheck",
        is_flag=True,
        help="Also run llama-bench once and store its figures beside the first run's.",
    ),
)
