"""A stop (Ctrl-C, SIGTERM) while a ``twin sql`` query computes: the query has stopped when the
KeyboardInterrupt leaves :func:`flows.archive.query.interruptible`.

Round 50 (HOSTILE50): ``twin sql`` stopped by SIGTERM during a long query printed "twin:
interrupted", then "terminate called after throwing an instance of ''", "FATAL: exception not
rethrown", exit 134 (4 of 13 tries, the stop 8-60 s into the query). The main thread waited with
``Thread.join(0.1)``: a KeyboardInterrupt inside it marks the thread stopped while it still runs
(CPython 3.11's ``_wait_for_tstate_lock``), so the second ``join()`` returned at once, the process
went on to exit and the interpreter stopped the helper thread inside DuckDB.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from flows.archive.query import interruptible


class _Query:
    """A query that runs until interrupted, then takes a moment to unwind (as DuckDB does)."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self.returned = threading.Event()

    def interrupt(self) -> None:
        self.interrupted.set()

    def run(self) -> str:
        self.interrupted.wait(30)
        time.sleep(0.3)
        self.returned.set()
        return "stopped"


def test_a_stop_while_the_query_runs_returns_once_the_query_has_stopped() -> None:
    query = _Query()
    threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,)).start()  # Ctrl-C to the main thread
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            interruptible(query, query.run)  # type: ignore[arg-type]
        stopped = query.returned.is_set()  # the base: the query still running here
    finally:
        signal.signal(signal.SIGINT, before)
        query.returned.wait(5)
    assert query.interrupted.is_set()
    assert stopped


def test_a_query_that_ends_gives_its_value_and_its_error() -> None:
    con: Any = _Query()
    assert interruptible(con, lambda: 42) == 42

    def fails() -> None:
        msg = "bad"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="bad"):
        interruptible(con, fails)
