"""Terminal control characters in what the CLI prints (round 37, DURABLE37; noticed by HOSTILE36).

An archive's text is anyone's (a file of the right schema, another writer), and ``--out`` is the
user's: an escape sequence in either drove the terminal where a command printed it raw. Checked on
ae4dd4c: ``twin whatif``'s text (an archived defect) and ``twin demo --follow-plans``'s followed-run
line (``--out``) printed them raw; ``twin explain``, ``twin sql``, ``twin commands``, the demo's and
backtest's own lines and every error line already escaped them (tests/flows/test_hostile_archive.py,
test_hostile_out.py); asset ids, channel names and file headers holding one are refused at input.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from flows.cli.main import main

HOSTILE = "bp\x1b[31mfo\x07"
SHOWN = "bp\\x1b[31mfo\\x07"


def test_whatif_shows_an_archived_defect_s_control_characters_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "wi"
    assert main(["demo", "--assets", "2", "--days", "10", "--seed", "1", "--out", str(out), "--no-progress",
                 "--json"]) == 0
    for f in glob.glob(str(out / "damage_state" / "*" / "*.parquet")):  # another writer's defect text
        t = pq.read_table(f)
        i = t.schema.get_field_index("defect")
        planted = pc.if_else(pc.is_null(t["defect"]), t["defect"], pa.array([HOSTILE] * len(t)))
        pq.write_table(t.set_column(i, t.schema.field(i), planted.cast(t.schema.field(i).type)), f)
    capsys.readouterr()
    argv = ["whatif", "pump-001", "--archive", str(out), "--load", "0.8", "--as-of", "2026-01-08T00:00:00Z"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\x07" not in text, text
    assert f"defect {SHOWN}" in text
    assert main([*argv, "--json"]) == 0  # the JSON keeps the exact text, escaped by JSON
    assert '"bp\\u001b[31mfo\\u0007"' in capsys.readouterr().out


def test_demo_follow_plans_shows_an_out_path_s_control_characters_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f\x1b[31mx"
    argv = ["demo", "--assets", "1", "--days", "1", "--follow-plans", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    got = capsys.readouterr()
    text = got.out + got.err
    assert "\x1b" not in text, text
    assert f"plans followed in a second run (0), archive {tmp_path}/f\\x1b[31mx/followed:" in got.out


def test_a_dead_letter_s_log_line_and_traceback_are_escaped(caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's exception quoting a record's text (a unit of ``deg\\x1b[2J``): the warning line and its
    traceback reach the terminal raw; the dead letter itself keeps the exact text (JSON escapes it)."""
    from datetime import UTC, datetime

    from flows.dataflow import guard
    from flows.dataflow.guard import processing_error

    # the process's traceback budget (guard.LOGGED_TRACEBACKS) is spent by earlier tests' dead letters
    # in a full run: this one's traceback would not be logged at all (the merge's CI failed on it)
    monkeypatch.setattr(guard, "_logged", 0)
    from flows.dataflow.metrics import PipelineMetrics

    try:
        msg = f"unit {HOSTILE} not known"
        raise ValueError(msg)
    except ValueError as exc:
        with caplog.at_level("WARNING", logger="flows.dataflow.guard"):
            letter = processing_error("features", exc, object(), PipelineMetrics(), lambda: datetime.now(UTC))
    logged = caplog.text
    assert "\x1b" not in logged and "\x07" not in logged, logged
    said = f"twin: dead letter: step features failed for asset '?': ValueError: unit {SHOWN} not known"
    assert said in logged
    assert f"\nValueError: unit {SHOWN} not known" in logged  # the traceback's last line, escaped too
    assert HOSTILE in letter.detail
