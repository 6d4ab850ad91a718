"""The job planner's helpers: push progress lines for a device."""

from __future__ import annotations


def test_push_progress_lines() -> None:
    from pocketbench.core.engine.plan import push_display

    lines: list[str] = []
    start = push_display("adb:X", lines.append)
    big = 100 * 2**20
    p = start("model.gguf", big)
    for done in range(0, big + 1, big // 20):
        p(done, big)
    assert [line.split(": ")[1] for line in lines] == [
        "25% of 100.0 MiB",
        "50% of 100.0 MiB",
        "75% of 100.0 MiB",
        "100% of 100.0 MiB",
    ]
    lines.clear()
    small = start("prompt.txt", 300)
    small(0, 300)
    small(300, 300)
    assert lines == ["  pushing prompt.txt to adb:X: 100% of 0.0 MiB"]
    lines.clear()
    start("model.gguf", big)(big, big)  # the device already holds it
    assert lines == ["  model.gguf: already on adb:X (100.0 MiB), not pushed again"]
