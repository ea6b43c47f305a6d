"""The demo summary's damage line says how many faults had no damage state when their alert came
(round 50: `make demo` printed "holds the truth at detection for 3/4" under a table whose four
intervals all held it: pump-002's was its state 2 h later, at the diagnosis, and counted as missed)."""

from __future__ import annotations

import pytest

from flows.app.demo import _print_damage


def _summary(covered: int, no_state: int) -> dict[str, object]:
    return {"scored": 4, "covered_at_detection": covered, "no_state_at_detection": no_state,
            "later_windows": 0, "later_covered": 0, "median_abs_error_h": 1.0}


def test_the_line_names_the_faults_without_a_state_at_detection(capsys: pytest.CaptureFixture[str]) -> None:
    _print_damage(_summary(3, 1))
    line = capsys.readouterr().out
    assert "for 3/4 failed faults (1 without a damage state yet: diagnosed after the alert)," in line


def test_no_note_when_every_fault_had_a_state(capsys: pytest.CaptureFixture[str]) -> None:
    _print_damage(_summary(4, 0))
    assert "for 4/4 failed faults, over" in capsys.readouterr().out
