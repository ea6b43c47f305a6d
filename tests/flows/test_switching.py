"""flows.app.switching: while `twin run`'s dataflow runs, a thread holds the GIL at most ~1 ms
while another waits for it (round 46, LAT46: the worker thread, starved by the archive's writer
threads at each epoch's end, delayed every output of the moment by 150-230 ms)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from flows.app.switching import SWITCH_INTERVAL_S, switching_often
from tests.flows.test_heap import run_twin_engine


@pytest.mark.parametrize("fails", [False, True])
def test_the_interval_holds_for_the_block_and_the_callers_comes_back(fails: bool) -> None:
    before = sys.getswitchinterval()
    caller = before * 2  # not the default: the caller's own value must come back, not CPython's
    sys.setswitchinterval(caller)
    inside: list[float] = []
    try:
        try:
            with switching_often():
                inside.append(sys.getswitchinterval())
                if fails:
                    raise RuntimeError
        except RuntimeError:
            assert fails
        assert inside == [pytest.approx(SWITCH_INTERVAL_S)]
        assert sys.getswitchinterval() == pytest.approx(caller)
    finally:
        sys.setswitchinterval(before)


def test_twin_runs_its_dataflow_with_the_short_interval(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def engine(flow: Any, **_kw: Any) -> None:
        seen.update(flow=flow, interval=sys.getswitchinterval())

    before = sys.getswitchinterval()
    run_twin_engine(monkeypatch, tmp_path, engine)
    assert seen["flow"] == "the flow"
    assert seen["interval"] == pytest.approx(SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == before  # the caller's process gets its interval back
