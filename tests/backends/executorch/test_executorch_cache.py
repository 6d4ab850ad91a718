"""A cached export is checked before it is used: a damaged one is exported again, never loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pocketbench.core.devices.local import LocalDevice
from pocketbench.core.kit.cache import cache_dir

from .conftest import job, needs_executorch

pytestmark = [pytest.mark.slow, pytest.mark.executorch, needs_executorch]


def test_a_whole_program_passes_and_a_cut_or_foreign_file_does_not(
    tiny_baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    from pocketbench.backends.executorch.export import pte_problem

    pte, tokenizer = tiny_baseline
    assert pte_problem(pte) is None
    cut = tmp_path / "cut.pte"
    cut.write_bytes(pte.read_bytes()[: pte.stat().st_size - 4096])
    assert "cut short" in (pte_problem(cut) or "")
    assert "not an ExecuTorch program" in (pte_problem(tokenizer) or "")


def test_a_damaged_cached_export_is_exported_again(
    pm, tiny_baseline: tuple[Path, Path], tmp_path: Path, monkeypatch, capfd
) -> None:
    from pocketbench.backends.executorch.export import pte_problem
    from pocketbench.core.api.presets import get_preset

    pte, _ = tiny_baseline
    # A private cache holding the tiny preset's checkpoint and a copy of its export,
    # so the damage never touches the cache other tests and users share.
    preset = f"tiny-{get_preset('tiny').fingerprint()}"
    cache = tmp_path / "cache"
    shutil.copytree(
        cache_dir("executorch", "presets", preset), cache / "executorch/presets" / preset
    )
    copy_dir = cache / "executorch/models" / pte.parent.name
    shutil.copytree(pte.parent, copy_dir)
    copy = copy_dir / "model.pte"
    monkeypatch.setenv("POCKETBENCH_CACHE", str(cache))
    first = pm.hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    assert Path(first.describe["model"]) == copy
    # Weights damaged in place: the same size and a whole header, other bytes.
    with open(copy, "r+b") as f:
        f.seek(copy.stat().st_size // 2)
        f.write(b"\xff" * 4096)
    assert pte_problem(copy) is None
    capfd.readouterr()

    prepared = pm.hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    err = capfd.readouterr().err
    # Recorded at the first prepare: same-size damage is caught by its digest.
    assert "the content of model.pte differs from what was written" in err
    assert "exporting tiny as baseline" in err and err.count("note:") == 1
    assert Path(prepared.describe["model"]) == copy and pte_problem(copy) is None
    result = pm.hook.pocketbench_run(
        job=job("baseline"), device=LocalDevice(), prepared=prepared, index=0
    )
    assert result.ok, result.stderr[-2000:]
    # Whole again: the next prepare uses it as it is.
    pm.hook.pocketbench_prepare(job=job("baseline"), device=LocalDevice())
    assert "exporting" not in capfd.readouterr().err


def test_a_cached_conversion_must_be_whole(tmp_path: Path) -> None:
    import torch

    from pocketbench.backends.executorch.realmodel import converted_problem

    d = tmp_path / "converted"
    d.mkdir()
    for name in ("params.json", "special.json", "tokenizer.json"):
        (d / name).write_text("{}")
    torch.save({"w": torch.zeros(4096)}, d / "consolidated.00.pth")
    assert converted_problem(d) is None
    ckpt = d / "consolidated.00.pth"
    with open(ckpt, "r+b") as f:
        f.truncate(ckpt.stat().st_size - 100)
    assert converted_problem(d) == "has no whole consolidated.00.pth"
    (d / "special.json").write_text("{")
    assert converted_problem(d) == "has no readable special.json"
