"""``twin whatif --archive``: the demo's archive gives every degrading asset's twin back."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.archive.query import query
from flows.cli.main import main
from tests.contract.test_schemas import validator


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's demo: ``twin demo --seed 1 --fresh --out DIR``."""
    out = tmp_path_factory.mktemp("whatif-demo")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--seed", "1", "--fresh", "--out", str(out), "--no-progress", "--json"]) == 0
    return out


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["whatif", *args])
    except SystemExit as exc:  # argparse's own errors (one line, exit 2, see OneLineParser)
        code = int(exc.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err


def _degrading(demo: Path) -> tuple[str, str]:
    """A degrading asset and a time in the middle of its checkpoints (its life before failure)."""
    _, rows = query(demo, "SELECT asset_id, min(timestamp), max(timestamp) FROM damage_state GROUP BY 1 "
                          "ORDER BY 1 LIMIT 1")
    asset, first, last = rows[0]
    return asset, (first + (last - first) / 2).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_lower_load_gives_a_longer_median_life(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asset, mid = _degrading(demo)
    medians = []
    for load in ("0.8", "1.0"):
        code, out, err = _run(capsys, asset, "--archive", str(demo), "--load", load, "--as-of", mid,
                              "--at", "2026-03-01", "--json")
        assert code == 0, err
        doc = json.loads(out)
        validator("whatif_result").validate(doc)
        assert doc["status"] == "ok" and doc["asset_id"] == asset and doc["defect"]
        medians.append(doc["scenario"]["rul_median_s"])
        assert doc["scenario"]["p_failure"][0]["date"].startswith("2026-03-01")
    assert medians[0] is not None and medians[1] is not None and medians[0] > medians[1]
    code, out, _ = _run(capsys, asset, "--archive", str(demo), "--load", "0.8", "--as-of", mid)
    assert code == 0 and "RUL median" in out and "as now" in out and "plan" in out


def test_the_archive_holds_checkpoints_as_numbers(demo: Path) -> None:
    _, rows = query(demo, "SELECT asset_id, count(*), min(len(d)), max(timestamp) FROM damage_state "
                          "GROUP BY 1")
    assert rows and all(n >= 2 and particles == 400 for _, n, particles, _ in rows)
    files = list((demo / "damage_state").rglob("*.parquet"))
    assert files and all(pq.read_schema(f).field("d").type.value_type == "double" for f in files)


def test_a_life_without_damage_says_so(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = query(demo, "SELECT asset_id FROM twin_state GROUP BY 1 HAVING max(damage) IS NULL ORDER BY 1")
    code, out, err = _run(capsys, rows[0][0], "--archive", str(demo), "--load", "0.8", "--json",
                          "--at", "2026-03-01")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "no_damage" and "no failure expected" in doc["reason"]
    assert doc["scenario"]["p_failure"][0]["p"] == 0.0


@pytest.mark.parametrize(("args", "word"), [
    (("nobody",), "no twin state of asset 'nobody'"),
    (("{asset}", "--load", "-1"), "argument --load: must be within [0, 1.5]"),
    (("{asset}", "--load", "x"), "argument --load: not a number: 'x'"),
    # round 15: each value bounded to what the model supports (main accepted --load up to 1e9, a
    # speed of 1e6 Hz, an ambient of 200 degC and answered with numbers); one line, exit 2, the range named
    (("{asset}", "--load", "1e9"),
     "argument --load: must be within [0, 1.5] (a fraction of rated load), got 1e9"),
    (("{asset}", "--load", "1.6"), "argument --load: must be within [0, 1.5]"),
    (("{asset}", "--speed-hz", "1e5"), "argument --speed-hz: must be within [0.1, 1000] (Hz), got 1e5"),
    # round 24: an error that depends on the twin names the flag typed (main: "what-if speed_hz
    # must be within ...", "what-if horizon must be within ...", "what-if date ... must be ...")
    (("{asset}", "--speed-hz", "60", "--as-of", "{mid}"), "--speed-hz 60 is above 2 x this twin's reference"),
    (("{asset}", "--until", "2200-01-01"), "--until 2200-01-01T00:00:00+00:00 is more than 50 years"),
    (("{asset}", "--ambient-c", "150"), "argument --ambient-c: must be within [-60, 60] (degC), got 150"),
    (("{asset}", "--duty", "1.01"), "argument --duty: must be within [0, 1]"),
    (("{asset}", "--horizon", "18251d"), "argument --horizon: must be at most 50 years (18250d)"),
    (("{asset}", *(a for d in range(1, 66) for a in ("--at", f"2030-01-01T00:{d // 60:02d}:{d % 60:02d}Z"))),
     "at most 64 --at dates, got 65"),
    (("x" * 129,), "argument ASSET: must be 1 to 128 characters"),
    (("{asset}", "--horizon", "3q"), "not a duration"),
    (("{asset}", "--until", "2020-01-01"), "is not after"),
    (("{asset}", "--at", "2020-01-01"), "--at 2020-01-01T00:00:00+00:00 is not after the twin's time"),
    (("{asset}", "--as-of", "2000-01-01"), "no twin state of asset"),
    (("{asset}", "--horizon", "1d", "--until", "2027-01-01"), "not allowed with"),
    # round 49: a date after the run's end was given P(failure within the horizon)
    (("{asset}", "--horizon", "1d", "--at", "2027-01-01", "--as-of", "{mid}"),
     "--at 2027-01-01T00:00:00+00:00 is after the what-if's end"),
    (("{asset}", "--until", "2026-02-01", "--at", "2027-01-01"), "(--until): a failure later than that"),
    (("{asset}", "--at", "2200-01-01"), "--at 2200-01-01T00:00:00+00:00 is more than 50 years"),
])
def test_bad_arguments_are_one_line_and_exit_2(demo: Path, capsys: pytest.CaptureFixture[str],
                                               args: tuple[str, ...], word: str) -> None:
    asset, mid = _degrading(demo)
    code, out, err = _run(capsys, *(a.format(asset=asset, mid=mid) for a in args), "--archive", str(demo))
    assert code == 2 and out == ""
    assert word in err and len(err.strip().splitlines()) == 1, err


def test_without_a_horizon_the_run_reaches_the_latest_date(demo: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Round 49 (HOSTILE49): the default 30 days' run gave a later ``--at`` date the 30 days' P."""
    asset, mid = _degrading(demo)
    code, out, err = _run(capsys, asset, "--archive", str(demo), "--as-of", mid, "--at", "2026-06-01",
                          "--json")
    assert code == 0, err
    doc = json.loads(out)
    start = datetime.fromisoformat(doc["timestamp"].replace("Z", "+00:00"))
    assert doc["horizon_s"] == (datetime(2026, 6, 1, tzinfo=UTC) - start).total_seconds()  # base: 30 days
    code, out, err = _run(capsys, asset, "--archive", str(demo), "--as-of", mid, "--json")
    assert code == 0 and json.loads(out)["horizon_s"] == 30 * 86400.0, err


def test_no_archive_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "pump-001", "--archive", str(tmp_path / "none"))
    assert code == 2 and "no archive" in err and len(err.strip().splitlines()) == 1
