"""The one cattrs converter pocketbench uses (never cattrs' global one)."""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

T = TypeVar("T")


@functools.cache
def converter() -> cattrs.Converter:
    """A JSON-ready converter that rejects unknown keys with readable errors."""
    from cattrs.gen import make_dict_structure_fn

    from pocketbench.core.api.model import Metrics

    c = make_converter(forbid_extra_keys=True, prefer_attrib_converters=True)
    metrics = make_dict_structure_fn(Metrics, c, _cattrs_forbid_extra_keys=True)

    def structure_metrics(data: Any, cls: Any) -> Metrics:
        # Stores written before backends declared their own figures kept
        # ExecuTorch's total rate as a field; it now lives in ``extra``.
        if isinstance(data, dict) and "runner_total_rate" in data:
            data = dict(data)
            legacy = data.pop("runner_total_rate")
            if legacy is not None:
                data["extra"] = {**data.get("extra", {}), "runner_total_rate": legacy}
        return metrics(data, cls)

    c.register_structure_hook(Metrics, structure_metrics)
    return c


def unstructure(obj: Any) -> Any:
    """A model object (a ``Workload``, ``DeviceFacts``) as plain JSON data."""
    return converter().unstructure(obj)


def dumps(obj: Any) -> str:
    return json.dumps(unstructure(obj), sort_keys=True)


def loads(text: str | None, cls: type[T]) -> T | None:
    if text is None:
        return None
    return converter().structure(json.loads(text), cls)
