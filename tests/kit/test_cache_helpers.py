"""The cache helpers as docs/plugins.md describes them: lock beside, build in a temporary folder, publish."""

from __future__ import annotations

import pytest

from pocketbench.plugin import cached_dir, file_lock, publish_dir, temp_beside, temp_dir_beside


def test_a_folder_built_in_a_temporary_folder_is_published_whole(tmp_path) -> None:
    final = tmp_path / "model"
    with file_lock(final.with_name("model.lock")), temp_dir_beside(final) as tmp:
        assert tmp.is_dir() and not any(tmp.iterdir()) and tmp.parent == tmp_path
        (tmp / "model.bin").write_bytes(b"weights")
        publish_dir(tmp, final)
    assert cached_dir(final, required=("model.bin",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.lock", "model.record"]


def test_a_failed_build_leaves_no_temporary_folder(tmp_path) -> None:
    final = tmp_path / "model"
    with pytest.raises(RuntimeError), temp_dir_beside(final) as tmp:
        (tmp / "half.bin").write_bytes(b"half")
        raise RuntimeError("the converter crashed")
    assert list(tmp_path.iterdir()) == []


def test_temp_beside_yields_the_path_of_an_empty_file(tmp_path) -> None:
    final = tmp_path / "model.gguf"
    with temp_beside(final) as tmp:
        assert tmp.is_file() and tmp.stat().st_size == 0 and tmp.parent == tmp_path
    assert not tmp.exists()
