"""A path of thousands of characters in a one-line error, shortened to its two ends (round 32, LOOSE32).

Every ``twin: error: ...`` line (:func:`flows.cli.args.print_error`, argparse's through
:class:`flows.cli.args.OneLineParser`) names the file or folder it is about, whole: a ``--config``,
``--out`` or input path of 4,000 characters (a generated one, a script's mistake) made a line of
4,000 to 8,000 characters (an OS error quotes it too), the problem lost at its end. A word of the
line (no spaces: a path, mostly) longer than :data:`MAX_WORD_CHARS` keeps its first
:data:`HEAD_CHARS` and its last characters around ``...``: where it starts and the file's name.

Round 33 (LOOSE33): moved here from ``flows/cli`` (beside :func:`flows.archive.files.printable`), so
that the warnings written below the CLI use it too: ``twin: warning: skipped ...`` (a query's
unreadable files, :func:`flows.archive.query.skipped_warning`) and ``twin: warning: ... holds data
of earlier runs`` (:func:`flows.app.archive_runs.mixing_warning`) printed an archive path whole.
"""

from __future__ import annotations

__all__ = ["HEAD_CHARS", "MAX_WORD_CHARS", "short_word", "short_words"]

MAX_WORD_CHARS = 200
"""Longest word kept whole (a path deeper than any an archive or a test folder uses)."""
HEAD_CHARS = 80
"""A longer word's first characters kept; its last ``MAX_WORD_CHARS - HEAD_CHARS - 3`` follow ``...``."""


def short_word(word: str) -> str:
    """``word``, or its two ends around ``...`` when longer than :data:`MAX_WORD_CHARS`."""
    if len(word) <= MAX_WORD_CHARS:
        return word
    return f"{word[:HEAD_CHARS]}...{word[len(word) - (MAX_WORD_CHARS - HEAD_CHARS - 3):]}"


def short_words(text: str) -> str:
    """``text`` on one line (runs of white space, newlines too, as one space), long words shortened."""
    return " ".join(short_word(w) for w in text.split())
