"""llama-bench's five output formats (``-o md|csv|json|jsonl|sql``) read into one row type.

What each printer wrote, from ``llama-bench.cpp``'s history:

- ``json``: an array of objects, one per test, every field of the test
  (``build_commit`` ... ``avg_ts``, ``stddev_ts``) plus ``samples_ns`` and
  ``samples_ts`` (per repetition; ``samples_ts`` since early 2024, only
  ``samples_ns`` before).
- ``jsonl``: the same objects, one per line (since mid 2024).
- ``csv``: a header of field names, then one quoted row per test; no samples.
- ``sql``: ``CREATE TABLE llama_bench (...)`` then one ``INSERT INTO
  llama_bench (fields) VALUES ('...', ...);`` per test; no samples.  Before
  2025 the table was called ``test``.
- ``md``: a table of the fields that vary (model, size, params, backend,
  threads, ..., test, t/s = "avg ± stddev"), then ``build: COMMIT (NUMBER)``.
  The test is ``pp 512``/``tg 128`` (2023 - early 2024), ``pp512``,
  ``tg128``, ``pp512+tg128``, and ``pp512 @ d4096`` with a depth (2025).

Only reading happens here; what the rows mean is :mod:`.importers`' work.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from typing import Any

from attrs import frozen

from pocketbench.plugin import ImportFormatError


@frozen(kw_only=True)
class BenchRow:
    """One llama-bench test as its printer wrote it."""

    fields: dict[str, Any]
    line: int
    source: str

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def integer(self, name: str, default: int = 0) -> int:
        value = self.fields.get(name)
        if value in (None, ""):
            return default
        try:
            return int(float(value))
        except (TypeError, ValueError):
            raise ImportFormatError(f"{name} = {value!r} is not a number", line=self.line) from None

    def real(self, name: str) -> float | None:
        value = self.fields.get(name)
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ImportFormatError(f"{name} = {value!r} is not a number", line=self.line) from None

    def samples(self, name: str) -> tuple[float, ...] | None:
        value = self.fields.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = [v for v in re.split(r"[\s,;\[\]]+", value) if v]
        try:
            return tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise ImportFormatError(
                f"{name} holds a value that is not a number", line=self.line
            ) from None


#: The table is ``llama_bench`` since 2025 and ``test`` before; a ``test`` table
#: is llama-bench's only with its fields (a build commit) beside it.
_SQL_TABLE = re.compile(
    r"^\s*INSERT INTO (?:llama_bench\b|test\s*\([^)]*\bbuild_commit\b)", re.MULTILINE
)
_SQL_START = re.compile(r"\s*INSERT INTO (?:llama_bench|test)\b")


def detect(text: str) -> str | None:
    """Which llama-bench format ``text`` is, or None."""
    if _SQL_TABLE.search(text):
        return "sql"
    if re.search(r'^"?build_commit"?,', text, re.MULTILINE):
        return "csv"
    if re.search(r"^\|\s*model\s*\|.*\|\s*t/s\s*\|\s*$", text, re.MULTILINE):
        return "md"
    if '"avg_ts"' in text or '"samples_ns"' in text:
        first = re.search(r"^\s*([\[{])", text, re.MULTILINE)
        if first is not None:
            return "json" if first[1] == "[" else "jsonl"
    return None


def read(text: str, fmt: str) -> list[BenchRow]:
    return {"json": _json, "jsonl": _jsonl, "csv": _csv, "sql": _sql, "md": _md}[fmt](text)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _json(text: str) -> list[BenchRow]:
    decoder = json.JSONDecoder()
    start = re.search(r"^\s*\[", text, re.MULTILINE)
    assert start is not None
    pos = start.end()
    rows: list[BenchRow] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise ImportFormatError(
                "truncated JSON: the array is not closed (was llama-bench interrupted?)",
                line=_line_of(text, pos),
            )
        if text[pos] == "]":
            return rows
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            what = "truncated JSON" if exc.pos >= len(text.rstrip()) else "broken JSON"
            raise ImportFormatError(f"{what} ({exc.msg})", line=exc.lineno) from None
        if not isinstance(obj, dict):
            raise ImportFormatError(
                "a llama-bench JSON entry is not an object", line=_line_of(text, pos)
            )
        rows.append(BenchRow(fields=obj, line=_line_of(text, pos), source=text[pos:end]))
        pos = end


def _jsonl(text: str) -> list[BenchRow]:
    rows: list[BenchRow] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("{"):
            continue  # log lines of the same process (2>&1) are not results
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(
                f"truncated or broken JSON line ({exc.msg})", line=number
            ) from None
        if isinstance(obj, dict):
            rows.append(BenchRow(fields=obj, line=number, source=line))
    return rows


def _csv(text: str) -> list[BenchRow]:
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if re.match(r'^"?build_commit"?,', line))
    reader = csv.reader(io.StringIO("\n".join(lines[head:])))
    names = next(reader)
    rows: list[BenchRow] = []
    for offset, values in enumerate(reader, 1):
        number = head + offset + 1
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            raise ImportFormatError(
                f"a CSV row has {len(values)} fields, the header {len(names)} (truncated?)",
                line=number,
            )
        rows.append(
            BenchRow(fields=dict(zip(names, values)), line=number, source=lines[number - 1])
        )
    return rows


_SQL_INSERT = re.compile(
    r"INSERT INTO (?:llama_bench|test)\s*\((?P<names>[^)]*)\)\s*VALUES\s*\((?P<values>.*)\)\s*;"
)
_SQL_VALUE = re.compile(r"\s*(?:'((?:[^']|'')*)'|([-+0-9.eE]+|NULL))\s*(,|$)")


def _sql(text: str) -> list[BenchRow]:
    rows: list[BenchRow] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not _SQL_START.match(line):
            continue
        m = _SQL_INSERT.search(line)
        if m is None:
            raise ImportFormatError("truncated INSERT statement", line=number)
        names = [n.strip() for n in m["names"].split(",")]
        values: list[str | None] = []
        body, pos = m["values"], 0
        while pos < len(body):
            v = _SQL_VALUE.match(body, pos)
            if v is None:
                raise ImportFormatError(
                    "an INSERT value this reader does not understand", line=number
                )
            values.append(
                v[1].replace("''", "'") if v[1] is not None else (None if v[2] == "NULL" else v[2])
            )
            pos = v.end()
        if len(values) != len(names):
            raise ImportFormatError(
                f"INSERT has {len(values)} values for {len(names)} fields", line=number
            )
        rows.append(BenchRow(fields=dict(zip(names, values)), line=number, source=line))
    return rows


#: Markdown column names -> field names (the printer's display names).
_MD_NAMES = {
    "threads": "n_threads",
    "ngl": "n_gpu_layers",
    "n_batch": "n_batch",
    "fa": "flash_attn",
}
_MD_TEST = re.compile(
    r"^(?:pp\s*(?P<pp>\d+))?\s*\+?\s*(?:tg\s*(?P<tg>\d+))?\s*(?:@\s*d\s*(?P<d>\d+))?$"
)
_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_PARAMS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _md(text: str) -> list[BenchRow]:
    lines = text.splitlines()
    rows: list[BenchRow] = []
    names: list[str] | None = None
    build = re.search(r"^build:\s*(\S+)\s*\((\d+)\)", text, re.MULTILINE)
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped.startswith("|"):
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if cells and cells[0] == "model":
            names = [_MD_NAMES.get(c, c) for c in cells]
            continue
        if names is None or all(set(c) <= set("-: ") for c in cells):
            continue
        if len(cells) != len(names):
            raise ImportFormatError(
                f"a table row has {len(cells)} cells, the header {len(names)} (truncated?)",
                line=number,
            )
        fields: dict[str, Any] = dict(zip(names, cells))
        fields.update(_md_test(fields.pop("test", ""), number))
        avg, _, sd = str(fields.pop("t/s", "")).partition("±")
        fields["avg_ts"], fields["stddev_ts"] = avg.strip(), sd.strip()
        fields["model_type"] = fields.pop("model", "")
        fields["model_size"] = _scaled(fields.pop("size", ""), _UNITS)
        fields["model_n_params"] = _scaled(fields.pop("params", ""), _PARAMS)
        fields["backends"] = fields.pop("backend", "")
        if build is not None:
            fields["build_commit"], fields["build_number"] = build[1], build[2]
        rows.append(BenchRow(fields=fields, line=number, source=line))
    return rows


def _md_test(test: str, line: int) -> dict[str, int]:
    m = _MD_TEST.match(test.strip())
    if m is None or not (m["pp"] or m["tg"]):
        raise ImportFormatError(f"test {test!r} is not ppN, tgN, ppN+tgN or ... @ dN", line=line)
    return {"n_prompt": int(m["pp"] or 0), "n_gen": int(m["tg"] or 0), "n_depth": int(m["d"] or 0)}


def _scaled(text: str, units: dict[str, float]) -> int | str:
    m = re.match(r"^\s*([0-9.]+)\s*(\S+)\s*$", text)
    if m is None or m[2] not in units:
        return ""
    value = float(m[1]) * units[m[2]]
    return int(value) if math.isfinite(value) else ""
