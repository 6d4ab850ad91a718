"""How a long name is shown where space is short: table cells and column labels.

Campaigns, model paths, device addresses and prompt snippets are the user's
own text and may be any length; a table must still fit a screen or a page.
Tables show them cut in the middle; the JSON report (and the CSV of raw
samples) always carries the whole value.
"""

from __future__ import annotations

from typing import Any

#: The widest a name may be in a table cell (a column label, a model path, a
#: device address, a campaign); the JSON report always has the whole value.
CELL_WIDTH = 80


def short_name(value: Any, width: int = CELL_WIDTH) -> str:
    """``value`` as one line of at most ``width`` characters, cut in the middle.

    Paths, device addresses and serials differ at both ends (the folder, the
    file name; the host, the serial), so the head and the tail are kept and
    the middle becomes "…": two long names stay told apart.
    """
    text = " ".join(str(value).split())
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    head = width - 1 - tail
    return f"{text[:head]}…{text[-tail:]}"
