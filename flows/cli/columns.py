"""Plain-text tables whose columns fit their widest value (``twin topics create|describe``).

Round 30 (USER30): ``twin topics describe`` padded the role to 13 characters and the topic to 40,
so ``recommendations``, ``whatif_requests`` and ``whatif_results`` (and any topic name of a long
``--topic-prefix``) pushed the rest of their row out of line with the header."""

from __future__ import annotations

from collections.abc import Collection, Sequence

__all__ = ["aligned"]


def aligned(rows: Sequence[Sequence[str]], right: Collection[int] = ()) -> list[str]:
    """``rows`` (the header first, if any) as lines whose columns start at the same character:
    each column as wide as its widest cell, two spaces between columns, the columns whose index is
    in ``right`` aligned right (numbers), the others left; no trailing spaces."""
    widths = [max((len(row[i]) for row in rows if i < len(row)), default=0)
              for i in range(max((len(row) for row in rows), default=0))]
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines
