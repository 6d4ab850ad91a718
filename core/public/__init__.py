"""pocketbench: benchmarks of on-device LLM inference.

The import package is assembled from the repository's top-level folders
(``core/``, ``backends/``, ``reporters/``); see pyproject.toml.
"""

from __future__ import annotations

__version__ = "0.1.0"
