"""The API reference in docs/api.md, generated from the public modules themselves.

``python scripts/apidoc.py`` prints it; ``--write`` replaces docs/api.md.
For every name a public module exports (``__all__`` of
:mod:`pocketbench.plugin` and :mod:`pocketbench.report`, the public names of
the :mod:`pocketbench.testing` modules) it gives the signature, the first
paragraph of the docstring and, for an attrs class, every field with its
type, default and ``#:`` comment.  A test fails when the document and the
code disagree, so a name cannot be added, renamed or left undocumented
silently.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from pathlib import Path
from typing import Any

import attrs

from pocketbench.core.kit.cache import write_atomic

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
#: Module -> who uses it (the heading's note).
MODULES = {
    "pocketbench.plugin": "what a backend imports",
    "pocketbench.report": "what a reporter imports",
    "pocketbench.testing.inprocess": "a backend measured in-process, as `bench run` would",
    "pocketbench.testing.backends": "a fake backend whose runs are real child processes",
    "pocketbench.testing.devices": "a device that is not this host",
    "pocketbench.testing.cli": "the installed `bench` in a subprocess",
    "pocketbench.testing.fabricated": "a results file with made-up runs, for reporters",
    "pocketbench.testing.latex": "LaTeX compiled with the real pdflatex",
    "pocketbench.testing.wait": "wait for a condition, never for a fixed time",
}
HEADER = """# API reference

Generated from the code by `python scripts/apidoc.py --write`; a test fails
when it is out of date. Every name a plugin may import, with its signature,
its fields (attrs classes) and the first paragraph of its documentation.
docs/plugins.md explains how they fit together; the hooks are in its hook
reference.
"""


def public_names(module: types.ModuleType) -> list[str]:
    """``__all__``, or the module's own public functions, classes and constants."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    own = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if getattr(value, "__module__", module.__name__) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value) or name.isupper():
            own.append(name)
    return own


def first_paragraph(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines above each field in the class's source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        text = line.strip()
        if text.startswith("#:"):
            pending.append(text[2:].strip())
            continue
        if ":" in text and not text.startswith(("def ", "@", "class ", "#", '"')):
            name = text.split(":", 1)[0].strip()
            if name.isidentifier() and pending:
                out[name] = " ".join(pending)
        pending = []
    return out


def _annotation(cls: type, name: str) -> str:
    """A field's annotation as written (attrs may have resolved ``field.type`` to a class)."""
    for klass in cls.__mro__:
        written = vars(klass).get("__annotations__", {}).get(name)
        if written is not None:
            return written if isinstance(written, str) else inspect.formatannotation(written)
    return ""


def _default(field: attrs.Attribute) -> str:
    if field.default is attrs.NOTHING:
        return ""
    if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
        factory = field.default.factory  # type: ignore[union-attr]
        return f"{getattr(factory, '__name__', 'factory')}()"
    return repr(field.default)


def _signature(obj: Any) -> str:
    """``(a: int, *, b: str = 'x') -> T`` with the annotations as written in the source."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"

    def text(annotation: Any) -> str:
        return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)

    params = []
    for p in sig.parameters.values():
        if p.annotation is not inspect.Parameter.empty:
            p = p.replace(annotation=_Raw(text(p.annotation)))
        if inspect.isroutine(p.default):  # a function's repr holds its address
            p = p.replace(default=_Raw(p.default.__name__.replace("<lambda>", "...")))
        params.append(p)
    ret = sig.return_annotation
    sig = sig.replace(
        parameters=params,
        return_annotation=_Raw(text(ret)) if ret is not inspect.Signature.empty else ret,
    )
    return str(sig)


class _Raw:
    """An annotation shown as its source text (no quotes, no module prefixes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _attrs_class(name: str, cls: type) -> list[str]:
    comments = _field_comments(cls)
    for base in cls.__mro__[1:]:
        if attrs.has(base):
            comments = {**_field_comments(base), **comments}
    out = [f"### class `{name}`", "", first_paragraph(cls), "", "| field | type | default | |"]
    out.append("| --- | --- | --- | --- |")
    for f in attrs.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        kind = _annotation(cls, f.name).replace("|", "\\|")
        out.append(f"| `{f.name}` | `{kind}` | {_cell(_default(f))} | {comments.get(f.name, '')} |")
    out += _methods(cls)
    return out


def _cell(text: str) -> str:
    return f"`{text}`".replace("|", "\\|") if text else ""


def _item(head: str, obj: Any) -> str:
    doc = first_paragraph(obj)
    return f"- {head}: {doc}" if doc else f"- {head}"


def _methods(cls: type) -> list[str]:
    out = []
    for attr, value in vars(cls).items():
        if attr.startswith("_") and attr != "__call__":
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            out.append(_item(f"`.{attr}` (property)", value))
        elif inspect.isfunction(value):
            out.append(_item(f"`.{attr}{_signature(value)}`", value))
    return ["", *out] if out else []


def _documentable(obj: Any) -> bool:
    """Functions, classes, modules and callable objects carry a docstring.

    Constants and type aliases (``Callable[[str], int]``) show their value.
    """
    if inspect.isroutine(obj) or inspect.isclass(obj) or isinstance(obj, types.ModuleType):
        return True
    return callable(obj) and type(obj).__module__ not in ("typing", "collections.abc", "types")


def _doc(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, or of its class's (a marker object)."""
    own = first_paragraph(obj)
    if own or inspect.isroutine(obj) or inspect.isclass(obj):
        return own
    return first_paragraph(type(obj))


def entry(name: str, obj: Any) -> list[str]:
    if inspect.isclass(obj) and attrs.has(obj):
        return _attrs_class(name, obj)
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        return [f"### {kind} `{name}{_signature(obj)}`", "", first_paragraph(obj), *_methods(obj)]
    if isinstance(obj, types.ModuleType):
        funcs = [n for n in public_names(obj) if inspect.isfunction(getattr(obj, n))]
        lines = [f"### module `{name}`", "", first_paragraph(obj), ""]
        return lines + [
            f"- `{n}{_signature(getattr(obj, n))}`: {first_paragraph(getattr(obj, n))}"
            for n in funcs
        ]
    if _documentable(obj):
        return [f"### `{name}{_signature(obj)}`", "", _doc(obj)]
    shown = repr(obj).replace("typing.", "").replace("collections.abc.", "")
    if len(shown) > 70:
        shown = (
            f"{type(obj).__name__} of {len(obj)}" if hasattr(obj, "__len__") else shown[:67] + "..."
        )
    return [f"### `{name}` = `{shown}`"]


def reference() -> str:
    parts = [HEADER]
    for module_name, note in MODULES.items():
        module = importlib.import_module(module_name)
        parts.append(f"## `{module_name}`: {note}\n\n{first_paragraph(module)}\n")
        for name in public_names(module):
            lines = entry(name, getattr(module, name))
            parts.append("\n".join(line.rstrip() for line in lines).rstrip() + "\n")
    return "\n".join(parts)


def undocumented() -> list[str]:
    """Public names whose reference would have no sentence (constants excepted)."""
    missing = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if _documentable(obj) and not _doc(obj):
                missing.append(f"{module_name}.{name}")
    return missing


def main(argv: list[str]) -> int:
    text = reference()
    if "--write" in argv:
        write_atomic(DOC, text.encode("utf-8"))
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
