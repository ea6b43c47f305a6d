"""What the CLI tells a user, said only where true (round 34's walk-through, USER34, and HOSTILE34):
a demo run again with the same seed is no mix; the suggested ``twin sql`` runs as printed; a
missing archive names every command that writes one; ``twin explain`` says when the options were
computed; ``--fresh`` names a FIFO in a table folder instead of leaving it without a word."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from flows.app.explain import render
from flows.app.out_dir import prepare_out
from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive

DEMO = ["demo", "--assets", "2", "--days", "2", "--no-progress"]


def _demo(out: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    assert main([*DEMO, "--seed", str(seed), "--out", str(out)]) == 0
    got = capsys.readouterr()
    return got.out, got.err


def test_a_demo_run_again_with_the_same_seed_is_no_mix_but_another_seed_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 34: ``make demo`` twice warned "results will be mixed", though the same seed writes the
    same rows again (the views then hold the newest run's rows only); another seed does mix."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `twin` on it, as from a fresh clone
    out = tmp_path / "archive"
    _demo(out, 1, capsys)
    text, err = _demo(out, 1, capsys)
    assert "results will be mixed" not in err, err
    assert "holds the rows of 1 earlier run of this same command" in err and "nothing is mixed" in err
    # the suggested query runs as printed: its `twin` is an executable here (base: `twin`, not on PATH)
    twin = re.search(r"\(try: (\S+) sql ", text)
    assert twin is not None, text
    assert shutil.which(twin.group(1)) is not None, twin.group(1)
    _, err = _demo(out, 2, capsys)
    assert "holds data of 2 earlier runs" in err and "results will be mixed" in err, err
    _, err = _demo(out, 1, capsys)  # seed 1 again, but seed 2's rows are there: still a mix
    assert "results will be mixed" in err, err


def test_a_missing_archive_names_every_command_that_writes_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 34: ``twin sql --archive D`` on a missing D said ``run `twin demo --out D` first``, also
    where D was meant for ``twin run`` or ``twin backtest``."""
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for archive in (missing, empty):
        assert main(["sql", "SELECT 1", "--archive", str(archive)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert "`twin demo --out DIR`" in err and "`twin run --archive DIR`" in err, err
        assert "`twin backtest --out OUT` into OUT/archive" in err, err


def _doc(rec_at: str, computed_at: str) -> dict[str, Any]:
    stop = "2026-01-19T06:00:00+00:00"
    options = [{"plan": "as_is", "load_fraction": None, "until": None, "p_failure": 0.6},
               {"plan": "derate", "load_fraction": 0.6, "until": stop, "p_failure": 0.2},
               {"plan": "replace_planned", "load_fraction": None, "until": stop, "p_failure": 0.3},
               {"plan": "replace_now", "load_fraction": None, "until": computed_at, "p_failure": 0.0}]
    for o in options:
        o["expected_cost"] = 1000.0
    rec = {"recommendation_id": "r1", "timestamp": rec_at, "explanation": "pump-004: replace now",
           "expected_saving": 1.0, "currency": "EUR", "chosen": options[3], "options": options,
           "commands": []}
    return {"alert_id": "a1", "asset_id": "pump-004", "kind": "condition", "started_at": rec_at,
            "messages": [], "lineage": None, "windows": [], "top_features": [], "recommendations": [rec]}


def test_explain_says_when_the_options_were_computed_not_a_past_deadline() -> None:
    """Round 34: a recommendation restated at the raise (14:00) listed ``replace_now until 12:00``,
    which read as a deadline already past: the time is when the options were computed."""
    text = render(_doc("2026-01-18T14:00:00+00:00", "2026-01-18T12:00:00+00:00"))
    assert "until 2026-01-18T12:00" not in text, text
    assert ("2026-01-18T14:00:00+00:00 (restated at the alert's raise; options computed at "
            "2026-01-18T12:00)  pump-004: replace now") in text, text
    assert "derate to 60% until the planned stop 2026-01-19T06:00: P(failure) 20%" in text, text
    assert "replace_planned at the planned stop 2026-01-19T06:00: P(failure) 30%" in text, text
    assert "      replace_now: P(failure) 0%" in text, text
    same = render(_doc("2026-01-18T12:00:00+00:00", "2026-01-18T12:00:00+00:00"))
    assert "restated" not in same and "  2026-01-18T12:00:00+00:00  pump-004: replace now" in same, same


def test_fresh_refuses_a_fifo_named_like_a_part_and_deletes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 34 (HOSTILE34): ``--fresh`` deleted the archive's files around a FIFO named like a
    run's part file and left it without a word; it is refused as a foreign file is (never opened)."""
    out = small_archive(tmp_path / "out")
    date = sorted((out / "features").glob("date=*"))[0]
    fifo = date / "part-20260101T000000-aaaaaaaa-w0-000009.parquet"
    os.mkfifo(fifo)
    before = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(ValueError, match="--fresh refused: ") as refused:
        prepare_out(out, out, ("demo.png",), fresh=True)
    line = str(refused.value)
    assert "\n" not in line and line.endswith("(nothing was deleted)"), line
    assert f"{fifo} is a FIFO, not a file twinflow wrote" in line, line
    assert sorted(str(p) for p in out.rglob("*")) == before
    assert main([*DEMO, "--out", str(out), "--fresh"]) == 2  # the command: one line, exit 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and f"{fifo} is a FIFO" in err, err
    assert sorted(str(p) for p in out.rglob("*")) == before
