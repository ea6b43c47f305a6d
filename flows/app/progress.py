"""The progress bar of a command's run (``twin demo``, ``twin backtest``): closed when the run ends,
a stop included.

Round 36: on Ctrl-C or SIGTERM, ``twin demo``'s bar stayed open; the command printed ``twin:
interrupted; ...`` and tqdm closed the bar at the interpreter's exit, drawing it again *after* that
line (it was no longer the last thing on the screen). ``twin backtest``'s bar was closed first but
drawn once more on a line of its own (the stderr filter had ended the bar's line when it dropped the
engine's panic text): two bars. On a stop the bar is now closed without being drawn again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

__all__ = ["finish", "progress_bar"]


@contextmanager
def progress_bar(total: int, *, disable: bool, **options: Any) -> Iterator[tqdm]:
    """A tqdm bar of ``total`` records (``options``: tqdm's), closed when the block ends: its last
    state left on screen after a run (:func:`finish`ed), cleared after a stop (what was drawn before
    it stays)."""
    bar = tqdm(total=total, unit="rec", disable=disable, **options)
    try:
        yield bar
    except BaseException:
        bar.leave = False  # close() then clears its line instead of drawing the bar again
        raise
    else:
        finish(bar)
    finally:
        bar.close()


def finish(bar: tqdm) -> None:
    """A finished run's bar at 100 %: its total (an estimate, :func:`~flows.dataflow.sources.
    simulator.count_records`, or an upper bound, a file's rows x channels) made the records it
    counted. Round 48: a demo's bar ended at 99 % (at 80 % before its estimate was fixed), a
    backtest's below 100 % whenever a file held empty cells, as if records were missing."""
    if bar.n and bar.total != bar.n:
        bar.total = bar.n
        bar.refresh()
