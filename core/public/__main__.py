"""``python -m pocketbench`` is the ``bench`` command."""

from __future__ import annotations

import sys

from pocketbench.core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
