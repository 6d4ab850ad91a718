"""Make a prompt of exactly N tokens for a given model's tokenizer (llama-tokenize).

The sizing is pocketbench's (:func:`pocketbench.plugin.exact_prompt`); this
names llama.cpp in its messages.
"""

from __future__ import annotations

from pocketbench.plugin import CountFn
from pocketbench.plugin import exact_prompt as _exact_prompt


def exact_prompt(n_tokens: int, count: CountFn, text: str | None = None) -> str:
    """Text that ``count`` (llama-tokenize) says is exactly ``n_tokens`` tokens long."""
    return _exact_prompt(n_tokens, count, text, runtime="llama.cpp", tokenizer="llama-tokenize")
