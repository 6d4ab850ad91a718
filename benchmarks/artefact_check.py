"""What checking a prepared folder against its record costs (issue 20).

    python benchmarks/artefact_check.py [--repeat 20]

Copies the cached llama.cpp tools of this host into a temporary cache and
times ``cached_dir`` on them: the first check (no record yet: every file
hashed and recorded), a check with the digests memoised (what every later
``bench`` pays), and a check after one binary's modification time changed
(that file hashed again).  Prints the median of ``--repeat`` timings of the
memoised check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from pocketbench.backends.llamacpp import build

    shared = build.ensure_built().parent
    required = ("build.json", *(f"bin/{t}" for t in build.TARGETS))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POCKETBENCH_CACHE"] = tmp
        from pocketbench.plugin import cached_dir

        folder = Path(tmp) / "tools"
        shutil.copytree(shared, folder)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        t0 = time.perf_counter()
        assert cached_dir(folder, required)
        first = time.perf_counter() - t0
        memoised = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            assert cached_dir(folder, required)
            memoised.append(time.perf_counter() - t0)
        os.utime(folder / "bin" / build.TARGETS[0])
        t0 = time.perf_counter()
        assert cached_dir(folder, required)
        touched = time.perf_counter() - t0
    print(f"folder: {len(list(shared.rglob('*')))} entries, {size / 2**20:.1f} MiB")
    print(f"first check (hash every file, write the record): {first * 1000:.1f} ms")
    print(f"memoised check, median of {args.repeat}: {statistics.median(memoised) * 1000:.2f} ms")
    print(f"after one binary's mtime changed: {touched * 1000:.1f} ms")


if __name__ == "__main__":
    main()
