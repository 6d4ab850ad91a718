"""Make a prompt of exactly N tokens for a given model's tokenizer.

Backends are compared on the same number of prompt tokens, so the prompt is
built to a token count, not to a length in characters.  Words of the source
text (the user's ``--prompt``, cycled as often as needed, or a neutral text)
are added until the real tokenizer (``llama-tokenize``, through a counting
function) reports exactly N tokens, beginning-of-sequence included, as the
runner will see them.
"""

from __future__ import annotations

from collections.abc import Callable

from pocketbench.backends.llamacpp.gguf_synth import WORDS
from pocketbench.plugin import SetupError

#: Neutral text: words that are single tokens in the synthetic tokenizer and
#: common whole words in real ones.
NEUTRAL_TEXT = " ".join(WORDS)
#: Short additions that are one token in most tokenizers; used to close a gap
#: smaller than the next word.
_FILLERS = (" the", " a", ".", ",", " of", " 1", "a")

#: Tokens of a text (beginning-of-sequence included, as the runner adds it).
CountFn = Callable[[str], int]


def words_of(text: str | None) -> list[str]:
    """The words a prompt is made of (the neutral text when ``text`` is None)."""
    words = (NEUTRAL_TEXT if text is None else text).split()
    if not words:
        raise SetupError("the prompt text is empty; give --prompt some words or leave it out")
    return words


def _join(words: list[str], k: int) -> str:
    return " ".join(words[i % len(words)] for i in range(k))


def exact_prompt(n_tokens: int, count: CountFn, text: str | None = None) -> str:
    """Text that ``count`` says is exactly ``n_tokens`` tokens long.

    :raises SetupError: when no such text can be made from ``text``.
    """
    words = words_of(text)
    empty = count("")
    # A 1-token prompt is decoded like a generated token and timed as one.
    if n_tokens < 2 or n_tokens <= empty:
        raise SetupError(
            f"a prompt of {n_tokens} tokens is too short for llama.cpp (the model adds {empty} "
            "token(s) by itself); use --prompt-tokens 2 or more"
        )
    # Largest word count whose text is at most n_tokens (count grows with k).
    lo, hi = 0, 1
    while count(_join(words, hi)) <= n_tokens:
        lo, hi = hi, hi * 2
        if hi > 64 * n_tokens:  # cannot happen with a sane tokenizer
            raise SetupError(
                "llama-tokenize reports fewer tokens than words; cannot size the prompt"
            )
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(_join(words, mid)) <= n_tokens:
            lo = mid
        else:
            hi = mid
    best = _join(words, lo)
    have = count(best)
    if have == n_tokens:
        return best
    # The next word is longer than the gap: close it with one-token fillers.
    gap = n_tokens - have
    for filler in _FILLERS:
        for extra in range(gap, gap + 2):
            candidate = best + filler * extra
            if count(candidate) == n_tokens:
                return candidate
    raise SetupError(
        f"cannot make a prompt of exactly {n_tokens} tokens from the given text with this "
        "model's tokenizer; try another --prompt"
    )
