"""Sizing prompts to an exact token count; quantization schemes and policy; backend info."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketbench.backends.llamacpp import prompt, quantize
from pocketbench.backends.llamacpp.gguf_info import GGUFInfo
from pocketbench.core.api.errors import SetupError
from pocketbench.core.api.model import BackendInfo


def words_counter(extra_per_long_word: int = 0):  # noqa: ANN201
    """A tokenizer stand-in: BOS + one token per word, long words cost more."""
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        n = 1
        for w in text.replace(".", " .").replace(",", " ,").split():
            n += 1 + (extra_per_long_word if len(w) > 6 else 0)
        return n

    count.calls = calls  # type: ignore[attr-defined]
    return count


@pytest.mark.parametrize("n", [2, 3, 16, 64, 513, 2000])
def test_neutral_prompt_has_exactly_n_tokens(n: int) -> None:
    count = words_counter()
    text = prompt.exact_prompt(n, count)
    assert count(text) == n
    assert not text.endswith("\n")


@pytest.mark.parametrize("n", [5, 17, 40, 101])
def test_user_text_is_cycled_and_gaps_are_closed(n: int) -> None:
    count = words_counter(extra_per_long_word=2)
    text = prompt.exact_prompt(n, count, "Summarise: the extraordinarily long; words here")
    assert count(text) == n
    assert text.startswith("Summarise:")


def test_shell_metacharacters_are_kept_as_data() -> None:
    count = words_counter()
    user = "$(rm -rf ~) `id` ; echo 'x' \"y\" | > <"
    text = prompt.exact_prompt(12, count, user)
    assert count(text) == 12
    assert text.startswith("$(rm -rf ~) `id` ;")


def test_sizing_takes_few_tokenizer_calls() -> None:
    count = words_counter()
    prompt.exact_prompt(1000, count)
    assert len(count.calls) < 40  # type: ignore[attr-defined]


def test_too_short_prompt_is_refused() -> None:
    with pytest.raises(SetupError, match="--prompt-tokens 2 or more"):
        prompt.exact_prompt(1, words_counter())


def test_empty_prompt_text_is_refused() -> None:
    with pytest.raises(SetupError, match="prompt text is empty"):
        prompt.exact_prompt(8, words_counter(), "   \n ")


def test_impossible_size_is_a_clear_error() -> None:
    def every_word_is_three_tokens(text: str) -> int:
        return 1 + 3 * len(text.split()) + 3 * sum(text.count(c) for c in ".,")

    with pytest.raises(SetupError, match="cannot make a prompt of exactly 6 tokens"):
        prompt.exact_prompt(6, every_word_is_three_tokens, "alpha beta")


# -- schemes and quantization policy -------------------------------------------------


def test_backend_info_lists_the_schemes(pm) -> None:  # noqa: ANN001
    info: BackendInfo = pm.hook.pocketbench_backend_info()
    names = info.scheme_names()
    for must in ("baseline", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "bf16"):
        assert must in names
    assert info.default_scheme == "baseline"
    assert "0.3.36" in info.version and "0c1e570" in info.version
    assert info.scheme("Q4_K").name == "q4_k_m"  # alias, case-insensitive
    assert info.scheme("f16").name == "baseline"
    for s in info.schemes:
        assert s.description and s.produced_by
    assert "llama-quantize" in info.scheme("q4_0").produced_by


def _info(quant: str, path: str = "/m.gguf") -> GGUFInfo:
    return GGUFInfo(
        path=Path(path), version=3, architecture="llama", name="", file_type=f"MOSTLY_{quant}",
        quant_type=quant, context_length=None, n_params=1, n_tensors=1, tensor_types={}, data_bytes=1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scheme", "have", "user", "want"),
    [
        ("baseline", "F16", False, None),  # the preset is already F16
        ("q4_0", "F16", False, "Q4_0"),
        ("q8_0", "F16", True, "Q8_0"),  # a user's F16 file is quantized
        ("q4_k_m", "BF16", True, "Q4_K_M"),
        ("q4_0", "F32", True, "Q4_0"),
        ("baseline", "Q4_0", True, None),  # a user's file "as given"
        ("q4_0", "Q4_0", True, None),  # already what was asked
        ("bf16", "F16", False, "BF16"),
    ],
)
def test_quantization_plan(scheme: str, have: str, user: bool, want: str | None) -> None:
    assert quantize.target_type(scheme, _info(have), user_file=user) == want


def test_requantizing_a_quantized_model_is_refused() -> None:
    with pytest.raises(SetupError, match=r"already quantized \(Q8_0\).*--quant baseline"):
        quantize.target_type("q4_0", _info("Q8_0"), user_file=True)


def test_unknown_scheme_lists_the_valid_ones() -> None:
    with pytest.raises(SetupError, match="Choose one of: baseline, f32, bf16, q8_0"):
        quantize.canonical("q3_xl")
