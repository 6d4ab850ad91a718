"""A prompt of exactly N tokens, whatever the tokenizer.

Backends are compared on the same number of prompt tokens, so a prompt is
built to a token count, not to a length in characters.  Words of the source
text (the user's ``--prompt``, cycled as often as needed, or the neutral
text) are added until the runtime's own tokenizer, through a counting
function, reports exactly N tokens, beginning-of-sequence included, as the
runner will see them.
"""

from __future__ import annotations

from collections.abc import Callable

from pocketbench.core.api.errors import SetupError

#: Common whole words: single tokens in the presets' synthetic tokenizers and in real ones.
_NEUTRAL = """
    the of and to in is was for on that with as by at from it an be this are
    which or his her their they we you he she not but have had has one all
    there were been can would more other new some time could these two may
    first then do any like my now over such our man me even most made after
    also did many before must through back years where much your way well down
    should because each just those people how too little state good very make
    world still own see men work long get here between both life being under
    never day same another know while last might us great old year off come
    since against go came right used take three small large house water light
    river stone garden window morning evening city road field tree bird music
    story number table letter paper question answer reason market country
"""
NEUTRAL_WORDS: tuple[str, ...] = tuple(_NEUTRAL.split())
#: The text a prompt is made of when the user gives none.
NEUTRAL_TEXT = " ".join(NEUTRAL_WORDS)
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


def exact_prompt(
    n_tokens: int,
    count: CountFn,
    text: str | None = None,
    *,
    runtime: str = "this runtime",
    tokenizer: str = "the tokenizer",
) -> str:
    """Text that ``count`` says is exactly ``n_tokens`` tokens long.

    ``text`` is the user's prompt (None: :data:`NEUTRAL_TEXT`); ``runtime``
    and ``tokenizer`` name them in the one-line errors.

    :raises SetupError: when no such text can be made from ``text``.
    """
    words = words_of(text)
    empty = count("")
    # A 1-token prompt is decoded like a generated token and timed as one.
    if n_tokens < 2 or n_tokens <= empty:
        raise SetupError(
            f"a prompt of {n_tokens} tokens is too short for {runtime} (the model adds {empty} "
            "token(s) by itself); use --prompt-tokens 2 or more"
        )
    # Largest word count whose text is at most n_tokens (count grows with k).
    lo, hi = 0, 1
    while count(_join(words, hi)) <= n_tokens:
        lo, hi = hi, hi * 2
        if hi > 64 * n_tokens:  # cannot happen with a sane tokenizer
            raise SetupError(f"{tokenizer} reports fewer tokens than words; cannot size the prompt")
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
