"""``twin demo --follow-plans`` (issue 11): every detected fault's plan at detection is followed in
a second simulated run through the dataflow; the failures in that run's telemetry are where
plan_outcome predicted (avoided or delayed), and the twin's second pass reaches the archive."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flows.app.demo_followed import followed_identity
from flows.archive.query import query
from flows.cli.main import main
from twin_models.records import AssetEvent
from twin_models.simulator.fleet import FleetConfig, simulate_fleet
from twin_models.simulator.plans import PlanAction

ARGS = ["--assets", "4", "--days", "10", "--seed", "1"]


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def followed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("followed")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["demo", *ARGS, "--out", str(out), "--no-progress", "--json", "--follow-plans"])
    assert code == 0
    return out, json.loads(buf.getvalue().strip().splitlines()[-1])


def test_every_followed_plan_avoids_or_delays_the_failure_as_predicted(
        followed: tuple[Path, dict[str, Any]]) -> None:
    _, summary = followed
    s = summary["followed_plans"]
    rows = s["faults"]
    recommended = [r for r in summary["prescriptions"]["faults"] if r["recommended"]]
    assert rows and len(rows) == len(recommended) == s["plans"]
    assert {r["plan"] for r in rows} == {r["plan"] for r in recommended}
    for r in rows:
        assert r["as_predicted"], r
        if r["plan"] != "as_is" and r["failure_as_is_h"] is not None:
            later = r["failure_followed_h"] is None or r["failure_followed_h"] > r["failure_as_is_h"]
            assert later, r
            assert r["avoided"] == (r["failure_followed_h"] is None)
    assert s["avoided"] == sum(r["avoided"] for r in rows)


def test_the_followed_telemetry_fails_where_the_table_says(
        followed: tuple[Path, dict[str, Any]]) -> None:
    _, summary = followed
    rows = summary["followed_plans"]["faults"]
    plans = tuple(PlanAction(r["asset_id"], datetime.fromisoformat(r["at"]), r["load_fraction"],
                             _time(r["until"]), _time(r["replace_at"])) for r in rows)
    fleet = FleetConfig(n_assets=4, days=10.0, seed=1, plans=plans)
    failures = {r.asset_id: r.timestamp for r in simulate_fleet(fleet)
                if isinstance(r, AssetEvent) and r.kind == "failure"}
    for r in rows:
        got = failures.get(r["asset_id"])
        want = r["failure_followed_h"]
        at = datetime.fromisoformat(r["at"])
        assert (got is None) == (want is None), r
        if got is not None:
            assert abs((got - at).total_seconds() / 3600 - want) < 0.06


def test_the_second_pass_has_its_own_archive(followed: tuple[Path, dict[str, Any]]) -> None:
    out, summary = followed
    second = Path(summary["followed_plans"]["out"])
    assert second == out / "followed"
    n_first = query(out, "SELECT count(*) FROM twin_state")[1][0][0]
    n_second = query(second, "SELECT count(*) FROM twin_state")[1][0][0]
    assert n_first > 0 and n_second > 0
    assert summary["followed_plans"]["alert_messages"] == query(
        second, "SELECT count(*) FROM alerts")[1][0][0]


def test_without_the_flag_there_is_no_second_pass(tmp_path: Path) -> None:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--assets", "2", "--days", "2", "--seed", "1", "--out", str(tmp_path),
                     "--no-progress", "--json"]) == 0
    assert "followed_plans" not in json.loads(buf.getvalue().strip().splitlines()[-1])
    assert not (tmp_path / "followed").exists()


def test_the_same_command_again_gets_the_note_for_the_followed_archive_too(
        followed: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 36: run again into the same --out, the first pass said the note ("nothing is mixed"),
    the second pass's ``followed`` folder still warned "results will be mixed", though it writes the
    same rows again: its views then hold the newest run's rows only, as the first pass's do."""
    out = tmp_path / "again"
    shutil.copytree(followed[0], out)
    capsys.readouterr()
    assert main(["demo", *ARGS, "--out", str(out), "--no-progress", "--json", "--follow-plans"]) == 0
    err = capsys.readouterr().err
    assert "results will be mixed" not in err, err
    assert err.count("of this same command") == 2, err  # --out and --out/followed
    assert f"{out / 'followed'} holds the rows of 1 earlier run" in err, err
    for where in (out, out / "followed"):  # checked, not assumed: one run's rows in every view
        for table in ("twin_state", "alerts"):
            assert query(where, f"SELECT count(DISTINCT run_id) FROM {table}")[1][0][0] == 1, (where, table)


def test_other_plans_are_another_identity() -> None:
    """The followed pass's rows depend on the plans it follows as well as on the first pass's
    identity: either changed, the rerun is no longer "the same command" (a mix is warned)."""
    at = datetime.fromisoformat("2026-01-03T10:00:00+00:00")
    plans = (PlanAction("pump-001", at, 0.6),)
    same = followed_identity("abc", plans)
    assert same == followed_identity("abc", (PlanAction("pump-001", at, 0.6),))
    assert same != followed_identity("abd", plans)
    assert same != followed_identity("abc", (PlanAction("pump-001", at, 0.5),))
    assert same != followed_identity("abc", (PlanAction("pump-001", at, replace_at=at),))
