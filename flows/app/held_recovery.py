"""``twin run --recovery-dir`` held open from its checks to the run's end (round 43b, part TIDY43b).

Bytewax 0.21 opens each recovery partition (``part-N.sqlite3`` and its ``-wal``/``-shm``) once, when the
dataflow starts, and writes every snapshot through those open files to the end. But the folder was
named to it, and to the store's checks and repairs before (:mod:`flows.dataflow.recovery_store`), by
path: a link put at the name between the checks and the engine's start (the broker's checks take
seconds) had the run open another folder's partitions and write its snapshots there. Now the folder is
held like ``--archive`` (:func:`~flows.app.out_held.held_folder`: a link at the name when the run
starts is followed, the folder it leads to held and checked again, :func:`held_place`) and every user,
Bytewax included, is given its ``/proc/self/fd/N`` path.

Removed mid-run, its partitions are deleted files the engine would go on writing into without an error:
the run is stopped (:class:`~flows.app.held_watch.NameWatch`, every ``WATCH_EVERY_S``; and once more at
its end) with one line naming it, exit 1 (:class:`RecoveryRemoved`). Moved (a rename), the run goes on
keeping its snapshots in it, said in one warning line (its own words: a restart resumes only from the
folder holding the snapshots)."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from flows.app.held_watch import NameWatch, Wording, removed
from flows.app.out_held import held_folder
from flows.app.out_places import held_place

if TYPE_CHECKING:
    from flows.app.run import RunOptions

__all__ = ["RecoveryRemoved", "held_recovery", "recovery_moved"]


class RecoveryRemoved(RuntimeError):
    """``--recovery-dir`` was removed while the run kept its snapshots there (one line)."""


def recovery_moved(name: Path) -> Wording:
    """The warning when the recovery folder ``name`` leads elsewhere mid-run (:class:`NameWatch`'s words);
    the folders it suggests are shell words to paste (round 46: ``give --recovery-dir /srv/twin rec.old``
    named two folders, neither the one meant)."""
    from flows.archive.shown_text import shell_word

    def line(what: str, where: str) -> str:  # round 46: the paths to paste as shell words
        at, back = shell_word(where), shell_word(str(name))
        return (f"twin run: warning: --recovery-dir {name} {what} now; this run goes on keeping its "
                f"snapshots in the folder it started with, now at {at}: a restart resumes from them "
                f"only if given that folder (move it back to {back}, or give --recovery-dir {at})")
    return line


@contextlib.contextmanager
def held_recovery(opts: RunOptions, say: Callable[[str], None]) -> Iterator[RunOptions]:
    """``opts`` with its recovery folder held (unchanged without one); ``say``: the warning lines.
    Raises :class:`RecoveryRemoved` when the folder was removed meanwhile, however the run ended
    (its signal stop included: the watch stops it so)."""
    from flows.app.run import Stopped

    name = opts.recovery_dir
    if name is None:
        yield opts
        return
    with held_folder(name, lambda: None, follow=True, parents=True) as at:
        held_place("--recovery-dir", name, at)
        gone = threading.Event()

        def stop() -> None:  # the stop a signal makes (the engine unwinds), told apart by ``gone``
            gone.set()
            if callable(signal.getsignal(signal.SIGTERM)):  # the run's stop handler (flows.app.stop_signals)
                os.kill(os.getpid(), signal.SIGTERM)
            else:  # still in the checks before the run: KeyboardInterrupt in the main thread
                _thread.interrupt_main()

        with NameWatch(name, at, recovery_moved(name), say, thread="twin-recovery-name", on_removed=stop):
            try:
                yield replace(opts, recovery_dir=at)
            except (Stopped, KeyboardInterrupt):
                if not (gone.is_set() or removed(at)):
                    raise
            if removed(at):
                msg = (f"the recovery folder {name} (--recovery-dir) was removed while the run kept its "
                       "snapshots there: they are lost, and a restart with it makes it again and starts "
                       "without them (the topics read again from the beginning, or from their end with "
                       "--from-end; the archive keeps each row once)")
                raise RecoveryRemoved(msg)
