"""A prompt of exactly N tokens for any tokenizer (pocketbench.plugin.exact_prompt)."""

from __future__ import annotations

import pytest

from pocketbench.plugin import NEUTRAL_TEXT, SetupError, exact_prompt


def words_and_bos(text: str) -> int:
    # A tokenizer whose tokens are words and punctuation, with a beginning-of-sequence token.
    return 1 + len(text.replace(".", " . ").replace(",", " , ").split())


@pytest.mark.parametrize("n", [2, 3, 17, 64, 300])
def test_the_prompt_has_exactly_the_tokens_asked(n: int) -> None:
    text = exact_prompt(n, words_and_bos)
    assert words_and_bos(text) == n
    assert set(text.split()) <= set(NEUTRAL_TEXT.split())


def test_the_users_text_is_cycled_to_the_length() -> None:
    text = exact_prompt(9, words_and_bos, "hello world")
    assert text == "hello world hello world hello world hello world"


def test_a_prompt_too_short_for_the_runtime_is_one_line() -> None:
    with pytest.raises(SetupError, match="too short for myruntime") as short:
        exact_prompt(1, words_and_bos, runtime="myruntime")
    assert "\n" not in str(short.value)
