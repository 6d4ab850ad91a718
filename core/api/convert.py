"""The one cattrs converter pocketbench uses (never cattrs' global one)."""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

from pocketbench.core.api.errors import UsageError

T = TypeVar("T")

#: Version of the serialised form of the data model (result files, database rows).
SCHEMA_VERSION = 1


@functools.cache
def converter() -> cattrs.Converter:
    """A JSON-ready converter that rejects unknown keys with readable errors."""
    return make_converter(forbid_extra_keys=True, prefer_attrib_converters=True)


def unstructure(obj: Any) -> Any:
    return converter().unstructure(obj)


def structure(data: Any, cls: type[T], *, what: str = "input") -> T:
    """Build ``cls`` from plain data; a mistake is one line naming the key."""
    try:
        return converter().structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise UsageError(f"{what}: {describe_error(exc)}") from exc


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)


def dumps(obj: Any) -> str:
    return json.dumps(unstructure(obj), sort_keys=True)


def loads(text: str | None, cls: type[T]) -> T | None:
    if text is None:
        return None
    return converter().structure(json.loads(text), cls)
