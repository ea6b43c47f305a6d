"""The FEMTO benchmark's along-life scores and folds (no dataset needed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.quality import femto
from benchmarks.quality.femto_scores import life_scores, summarise
from twin_models.records import TwinSnapshot

T0 = datetime(2012, 1, 1, tzinfo=UTC)


def _snaps(n: int, rul: float | None, band: float = 0.1) -> list[TwinSnapshot]:
    """One snapshot a minute; RUL = ``rul`` x the truth, +- ``band`` x the truth (None: no estimate)."""
    failure = T0 + timedelta(minutes=n)
    out = []
    for i in range(n + 2):  # two windows after the failure: not scored
        ts = T0 + timedelta(minutes=i + 1)
        true = (failure - ts).total_seconds()
        snap = TwinSnapshot("Bearing1_1", ts, ts - timedelta(minutes=1), "healthy", 0.0, 1.0, None, None,
                            None, False, 0, 0)
        if rul is not None:
            snap = replace(snap, rul_s=rul * true, rul_lower_s=(rul - band) * true,
                           rul_upper_s=(rul + band) * true)
        out.append(snap)
    return out


def test_life_scores_against_known_truth() -> None:
    failure = T0 + timedelta(minutes=100)
    exact = life_scores(_snaps(100, 1.0), T0, failure)
    assert exact["A_life"] == 1.0 and exact["coverage_life"] == 1.0 and exact["A_0.5"] == 1.0
    late = life_scores(_snaps(100, 1.05, band=0.01), T0, failure)  # 5 % late everywhere: A = 0.5
    assert late["A_life"] == pytest.approx(0.5, abs=1e-3) and late["coverage_life"] == 0.0
    none = life_scores(_snaps(100, None), T0, failure)  # no estimate = PredRUL 0: Er = 100 %
    assert none["A_0.9"] == pytest.approx(0.5 ** 5, abs=1e-4) and none["coverage_life"] == 0.0
    assert summarise([exact, late])["A_life"] == pytest.approx(0.75, abs=1e-3)
    assert summarise([exact, {"A_life": None}])["A_life"] is None


def test_folds_by_bearing_and_condition() -> None:
    names = ["Bearing1_1", "Bearing1_2", "Bearing2_1", "Bearing3_1", "Bearing3_2"]
    assert femto.folds(names, "bearing") == [[n] for n in names]
    assert femto.folds(names, "condition") == [names[:2], names[2:3], names[3:]]


@pytest.mark.parametrize("argv", [["--folds", "asset"], ["--truncate-at", "1.5"], ["--truncate-at", "x"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        femto.main(argv)
    assert exc.value.code == 2 and "Traceback" not in capsys.readouterr().err
