"""How the archive's lines show what anyone may have named: a name or value made printable for a
terminal, a folder as one shell word to paste (named as the user gave it when it is held, see
:mod:`flows.archive.given_names`), an error's first line. Moved out of :mod:`flows.archive.files`
(round 43) with no change of behaviour; ``files`` still exports them."""

from __future__ import annotations

import shlex
from pathlib import Path

from flows.archive.given_names import as_given

__all__ = ["first_line", "given_word", "printable", "shell_word"]


def printable(text: str) -> str:
    """``text`` with each character that is not printable as its Python escape (``\\x1b``,
    ``\\n``, ``\\u202e``), for a terminal: an archive's file names and values are anyone's
    text, and an escape sequence drives the terminal, a newline forges a line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def shell_word(text: str) -> str:
    """``text`` as one shell word to paste: ``shlex.quote``'s when it is printable, else bash's
    ``$'...'`` with each character that is not printable as its escape: as safe on a terminal as
    :func:`printable`, and the pasted command names the same folder (round 39: ``printable(shlex.quote(
    ...))`` showed ``'esc\\x1b[31mred'``, which names a folder with a backslash in it). A run of spaces
    is bash's too, its spaces as ``\\x20`` (round 46: a one-line message folds runs of white space,
    :func:`~flows.archive.short_paths.short_words`, so ``'my  rec'`` was shown as ``'my rec'``)."""
    runs = "  " in text
    if text.isprintable() and not runs:
        return shlex.quote(text)
    out = []
    for c in text:
        n = ord(c)
        if c in "\\'":
            out.append("\\" + c)
        elif c == " " and runs:
            out.append("\\x20")
        elif c.isprintable():
            out.append(c)
        elif n < 0x80 or 0xDC80 <= n <= 0xDCFF:  # a surrogate-escaped byte of a name not UTF-8: that byte
            out.append(f"\\x{n & 0xFF:02x}")
        else:
            out.append(f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return "$'" + "".join(out) + "'"


def given_word(path: str | Path) -> str:
    """``path`` as one shell word, named as given (:func:`~flows.archive.given_names.as_given`) first."""
    return shell_word(as_given(path))


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (Arrow's add context lines), or its type's name if empty."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
