"""flows.app.heap, round 26: ``twin demo`` freezes the heap built before its run (``gc.freeze``:
imports, the flow, the models, the simulated fleet), so the run's collections never walk it again
(``collecting_less(freeze=True)``); ``TWIN_GC=default`` leaves CPython's collector as it is, and
any other value is refused before a command runs."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from flows.app import demo as demo_module
from flows.app.heap import MIDDLE_THRESHOLD, YOUNG_THRESHOLD, collecting_less, gc_setting
from flows.cli.main import main
from tests.flows.conftest import CFG
from twin_models.simulator.fleet import FleetConfig


def _tracked(obj: object) -> bool:
    """Whether a collection of any generation would walk ``obj`` (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


def test_a_freezing_run_freezes_what_was_built_before_it_and_gives_it_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWIN_GC", raising=False)
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    built = {"twin": [float(i) for i in range(100)]}  # the flow and the models, built before the run
    with collecting_less(freeze=True):
        made = {"window": [1.0]}  # what the run makes is collected as before
        inside = (gc.get_freeze_count(), gc.get_threshold(), _tracked(built), _tracked(made))
    assert inside[0] > 0 and inside[1] == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, before[2])
    assert inside[2:] == (False, True)
    # the caller's process as it was: nothing frozen, its thresholds, its objects walked again
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before and _tracked(built)
    gc.freeze()  # a caller that froze its own heap (a server before forking workers): left frozen
    try:
        theirs = gc.get_freeze_count()
        later = {"made": [1.0]}
        with collecting_less(freeze=True):
            inside = (gc.get_freeze_count(), _tracked(later))
        # nothing more frozen (what the caller made since stays walked), nothing unfrozen after
        assert inside[0] <= theirs and inside[1] and theirs // 2 < gc.get_freeze_count() <= theirs
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("value", ["default", " Default "])
def test_twin_gc_default_leaves_cpythons_collector(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TWIN_GC", value)
    assert gc_setting() == "default"
    before = gc.get_threshold()
    with collecting_less(freeze=True):
        inside = (gc.get_threshold(), gc.get_freeze_count())
    assert inside == (before, 0)


@pytest.mark.parametrize("value", ["off", "tuned,default", "0"])
def test_an_unknown_twin_gc_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], value: str) -> None:
    monkeypatch.setenv("TWIN_GC", value)
    assert main(["sql", "--help"]) == 2  # refused before the command (or its --help) runs
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TWIN_GC" in err[0] and repr(value) in err[0] and "default" in err[0]


def test_twin_demo_runs_its_engine_with_the_run_setting(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("TWIN_GC", raising=False)
    seen: list[tuple[int, bool]] = []
    real_run_main = demo_module.run_main

    def engine(flow: Any, **kw: Any) -> None:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > 0))
        real_run_main(flow, **kw)

    monkeypatch.setattr(demo_module, "run_main", engine)
    fleet = FleetConfig(n_assets=1, days=0.5, seed=5, frame_interval_s=3600.0, scalar_interval_s=900.0,
                        frame_len=2048)
    before = gc.get_threshold()
    res = demo_module.run_fleet(fleet, CFG, tmp_path / "out", progress=False)
    assert res.records > 0
    assert seen == [(YOUNG_THRESHOLD, True)]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
