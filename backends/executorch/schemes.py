"""The quantization schemes the ExecuTorch backend offers, and how each is exported.

Every scheme is produced by ExecuTorch's own export path
(``python -m executorch.examples.models.llama.export_llama``) with the XNNPACK
backend.  This module is imported by ``bench plugins``: no torch, no executorch.
"""

from __future__ import annotations

from attrs import frozen

from pocketbench.plugin import QuantScheme

#: Flags every export gets: KV cache with the SDPA custom op, XNNPACK delegation.
COMMON_FLAGS: tuple[str, ...] = (
    "-kv",
    "--use_sdpa_with_kv_cache",
    "-X",
    "--xnnpack-extended-ops",
)

#: Flags of a prequantized INT4_EO8 checkpoint (Meta's SpinQuant / QAT+LoRA releases).
PREQ_FLAGS: tuple[str, ...] = (
    "--preq_mode",
    "8da4w_output_8da8w",
    "--preq_group_size",
    "32",
    "--preq_embedding_quantize",
    "8,0",
)
PREQ_GROUP_SIZE = 32
LORA_RANK = 16


@frozen(kw_only=True)
class Scheme:
    """A scheme with its export flags and the checkpoint kind it needs."""

    name: str
    description: str
    #: The scheme's own flags (``export_flags`` adds the common ones).
    flags: tuple[str, ...]
    #: The dtype of the exported model's float parts.
    dtype: str
    #: "float" (any float checkpoint), "preq" or "preq-lora" (prequantized).
    checkpoint: str = "float"
    aliases: tuple[str, ...] = ()
    #: How reports name it.
    label: str = ""

    @property
    def export_flags(self) -> tuple[str, ...]:
        """Everything ``export_llama`` is given besides paths, lengths and metadata."""
        return (*COMMON_FLAGS, *self.flags)

    def quant_scheme(self) -> QuantScheme:
        produced = "export_llama " + " ".join(self.export_flags)
        if self.checkpoint != "float":
            produced += " -c <prequantized checkpoint>"
        return QuantScheme(
            name=self.name,
            description=self.description,
            produced_by=produced,
            aliases=self.aliases,
            label=self.label,
        )


SCHEMES: tuple[Scheme, ...] = (
    Scheme(
        name="baseline",
        description="unquantized fp32 (the Galaxy A25 study's baseline; also selectable as 'fp32')",
        flags=("-d", "fp32"),
        dtype="fp32",
        aliases=("fp32",),
        label="Baseline",
    ),
    Scheme(
        name="bf16",
        description="unquantized bf16 weights and activations (XNNPACK bf16 kernels)",
        flags=("-d", "bf16", "--xnnpack-enable-bf16"),
        dtype="bf16",
        label="BF16",
    ),
    Scheme(
        name="8da4w",
        description="int8 dynamic activations, int4 group-32 weights, 8-bit embeddings",
        flags=("-d", "fp32", "-qmode", "8da4w", "-G", "32", "-E", "8,0"),
        dtype="fp32",
        label="8da4w",
    ),
    Scheme(
        name="spinquant",
        description="SpinQuant INT4_EO8 (prequantized checkpoint; synthesised for presets)",
        flags=("-d", "fp32", "--use_spin_quant", "native", *PREQ_FLAGS),
        dtype="fp32",
        checkpoint="preq",
        label="SpinQuant",
    ),
    Scheme(
        name="qat-lora",
        description="QAT+LoRA INT4_EO8, LoRA rank 16 (prequantized checkpoint; synthesised for presets)",
        flags=("-d", "fp32", "-qat", "-lora", str(LORA_RANK), *PREQ_FLAGS),
        dtype="fp32",
        checkpoint="preq-lora",
        aliases=("qat+lora", "qat"),
        label="QAT+LoRA",
    ),
)


def get_scheme(name: str) -> Scheme | None:
    key = name.lower()
    for s in SCHEMES:
        if key == s.name or key in s.aliases:
            return s
    return None
