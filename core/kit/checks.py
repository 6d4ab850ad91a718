"""Every value checked before anything runs: one line with the valid range, exit code 2.

The command line and study files both come through these checks (the job
planner calls them), so ``--gen-tokens 1`` and ``gen_tokens = 1`` in a study
get the same answer.  ``name`` is how the value is shown: ``--timeout`` on the
command line, ``framework[1].timeout`` in a study.
"""

from __future__ import annotations

import math
import unicodedata

from pocketbench.core.api.errors import UsageError

#: A run may take at most a day; a pause between runs at most an hour.
MAX_TIMEOUT_S = 86_400.0
MAX_COOLDOWN_S = 3_600.0
#: Token counts and run counts far beyond any phone's context or patience.
MAX_TOKENS = 1_000_000
MAX_RUNS = 100_000
MAX_THREADS = 1_024
#: Campaign names are shown in tables and stored as keys.
MAX_NAME = 200
#: Prompt text (it is tokenised and made exactly --prompt-tokens long).
MAX_PROMPT_BYTES = 1 << 20


def integer(name: str, value: object, low: int, high: int, why: str = "") -> int:
    """An int within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be a whole number from {low} to {high} (got {value!r})")
    if not low <= value <= high:
        reason = f" ({why})" if why else ""
        raise UsageError(f"{name} must be from {low} to {high}{reason} (got {value})")
    return value


def number(
    name: str,
    value: object,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite float within the range (open ends where asked)."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    bad = not math.isfinite(x) or x < low or x > high or (low_open and x == low)
    bad = bad or (high_open and x == high)
    if isinstance(value, bool) or bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise UsageError(
            f"{name} must be a finite number in {lo}{low:g}, {high:g}{hi} (got {value!r})"
        )
    return x


def timeout(name: str, value: object) -> float:
    return number(name, value, 0.0, MAX_TIMEOUT_S, low_open=True)


def cooldown_seconds(name: str, value: object) -> float:
    return number(name, value, 0.0, MAX_COOLDOWN_S)


def target_ci(name: str, value: object) -> float:
    return number(name, value, 0.0, 100.0, low_open=True, high_open=True)


def gen_tokens(name: str, value: object) -> int:
    # G new tokens are G-1 decode steps after the first: one token has no decode rate.
    return integer(name, value, 2, MAX_TOKENS, "a generation rate needs G-1 >= 1 decode steps")


def text(name: str, value: str, *, max_len: int = MAX_NAME) -> str:
    """A name: non-empty, printable (no newline or control character), bounded, valid UTF-8."""
    utf8(name, value)
    if not value.strip():
        raise UsageError(f"{name} must not be empty")
    if len(value) > max_len:
        raise UsageError(f"{name} is {len(value)} characters long; use at most {max_len}")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            raise UsageError(
                f"{name} contains the control character {ch!r}; use printable characters only"
            )
    return value


def utf8(name: str, value: str) -> str:
    """Text that came from bytes which were not UTF-8 (lone surrogates) is refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"{name} is not valid UTF-8 text; give it as UTF-8 (check the terminal's encoding)"
        ) from None
    return value


def prompt(name: str, value: str) -> str:
    utf8(name, value)
    if len(value.encode("utf-8")) > MAX_PROMPT_BYTES:
        raise UsageError(f"{name} is longer than {MAX_PROMPT_BYTES // 1024} KiB; shorten it")
    if "\x00" in value:
        raise UsageError(f"{name} contains a NUL character; remove it")
    return value
