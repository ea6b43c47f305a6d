"""``twin explain ALERT_ID``: an alert's lineage from a demo archive; errors are one line, exit 2;
archives written before the digital thread (v1 files) stay queryable, alone or mixed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from flows.app.demo import DEMO_DEFAULTS
from flows.app.explain import explain, render
from flows.archive.query import query
from flows.cli.main import main
from flows.config.fingerprint import config_hash
from flows.config.pipeline import load_config

SECRET = "s3cret-do-not-print"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo archive (3 assets, 8 days: alerts raised), run with a SASL password in the env."""
    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()):
        mp.setenv("TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD", SECRET)
        code = main(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(out),
                     "--no-progress", "--json"])
    assert code == 0
    return out


def _raised(root: Path) -> list[tuple[str, str]]:
    _, rows = query(root, "SELECT alert_id, asset_id FROM alerts WHERE status = 'raised' ORDER BY alert_id")
    assert rows
    return [(r[0], r[1]) for r in rows]


def test_explain_names_the_windows_that_raised_the_alert(demo: Path) -> None:
    for alert_id, asset in _raised(demo):
        doc = explain(demo, alert_id)
        _, rows = query(demo, "SELECT a.started_at, a.timestamp FROM alerts a WHERE a.alert_id = "
                              f"'{alert_id}' AND a.sequence = 1")
        started, raised_at = rows[0]
        _, wins = query(demo, "SELECT window_start, timestamp, lineage FROM twin_state WHERE asset_id = "
                              f"'{asset}' AND window_start >= '{started.isoformat()}' AND timestamp <= "
                              f"'{raised_at.isoformat()}' ORDER BY window_start")
        assert [w["window_start"] for w in doc["windows"]] == [w[0].isoformat() for w in wins]
        assert len(wins) >= 3  # the alert policy's min_windows bad windows in a row
        assert doc["windows"][-1]["window_end"] == raised_at.isoformat()
        _, feats = query(demo, f"SELECT window_start, inputs FROM features WHERE asset_id = '{asset}'")
        inputs = {w.isoformat(): json.loads(i) for w, i in feats}
        for w in doc["windows"]:
            assert w["inputs"] == inputs[w["window_start"]] and w["inputs"][0]["source"] == "sim:seed=5"
        assert doc["lineage"] == json.loads(wins[-1][2])  # the raising window's lineage
        assert doc["lineage"]["learned_windows"] > 0 and doc["top_features"]
        top = doc["top_features"][0]
        assert top["value"] is not None and top["baseline"] is not None and top["value"] != top["baseline"]


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_cli_text_and_json(demo: Path) -> None:
    alert_id, asset = _raised(demo)[0]
    code, out, err = _run(["explain", alert_id, "--archive", str(demo), "--json"])
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert (doc["alert_id"], doc["asset_id"]) == (alert_id, asset)
    code, text, _ = _run(["explain", alert_id, "--archive", str(demo)])
    assert code == 0 and doc["lineage"]["config_hash"] in text and "sim:seed=5" in text


def test_no_secret_in_any_output(demo: Path) -> None:
    alert_id, _ = _raised(demo)[0]
    _, out, _ = _run(["explain", alert_id, "--archive", str(demo), "--json"])
    assert SECRET not in out
    # the password was part of the effective configuration the lineage names
    env = {**os.environ, "TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": SECRET}  # as the demo saw it
    cfg = load_config(None, base=DEMO_DEFAULTS, env=env, overrides={"archive_dir": str(demo)})
    assert cfg.kafka.librdkafka["sasl.password"] == SECRET
    assert json.loads(out)["lineage"]["config_hash"] == config_hash(cfg)
    for f in demo.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


@pytest.mark.parametrize("case", ["unknown id", "missing archive", "a file", "empty folder"])
def test_bad_id_or_archive_is_one_line_exit_2(demo: Path, tmp_path: Path, case: str) -> None:
    archive = {"unknown id": demo, "missing archive": tmp_path / "nope", "a file": tmp_path / "f.txt",
               "empty folder": tmp_path}[case]
    if case == "a file":
        archive.write_text("x")
    code, out, err = _run(["explain", "0123456789abcdef0123", "--archive", str(archive)])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("twin: error: ")
    assert ("unknown alert id" in err) == (case == "unknown id")


def _as_v1(path: Path, drop: str) -> None:
    """Rewrite one archive file as the v1 writer wrote it: without the digital thread's column."""
    table = pq.read_table(path)
    pq.write_table(table.drop_columns([drop]), path)


def test_v1_files_stay_queryable_and_explainable_in_a_mix(demo: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(demo, mixed)
    alert_id, asset = _raised(demo)[0]
    for table, column in (("alerts", "lineage"), ("twin_state", "lineage"), ("features", "inputs")):
        files = sorted((mixed / table).rglob("*.parquet"))
        assert len(files) >= 2
        for f in files[: len(files) // 2 + 1]:  # the older half (and more) as v1 files
            _as_v1(f, column)
        for sql in (f"SELECT count(*) FROM {table}", f"SELECT count(*) FROM {table} WHERE {column} IS NULL"):
            (old,), (new,) = query(demo, sql)[1], query(mixed, sql)[1]
            if "NULL" in sql:
                assert old[0] == 0 and new[0] > 0  # v1 rows read with a null column
            else:
                assert new == old
    for alert_id, _ in _raised(mixed):
        doc = explain(mixed, alert_id)
        assert doc["windows"] and doc["alert_id"] == alert_id
    code, text, err = _run(["explain", alert_id, "--archive", str(mixed)])
    assert code == 0 and err == ""
    v1 = [a for a, _ in _raised(mixed) if explain(mixed, a)["lineage"] is None]
    assert v1, "some alert comes from a v1 file"
    _, text, _ = _run(["explain", v1[0], "--archive", str(mixed)])
    assert "not recorded" in text


def test_explain_shows_the_recommendations_and_their_what_if_options(demo: Path) -> None:
    """Every recommendation archived with the alert's id is in its lineage, with the options
    (the what-if runs) it chose from and what the command path did with it."""
    _, recs = query(demo, "SELECT alert_id, recommendation_id, chosen->>'plan' FROM recommendations "
                          "WHERE alert_id IS NOT NULL ORDER BY alert_id, timestamp")
    assert recs, "the demo's degrading assets get recommendations"
    by_alert: dict[str, list[tuple[str, str]]] = {}
    for alert_id, rec_id, plan in recs:
        by_alert.setdefault(alert_id, []).append((rec_id, plan))
    for alert_id, expected in by_alert.items():
        doc = explain(demo, alert_id)
        got = [(r["recommendation_id"], r["chosen"]["plan"]) for r in doc["recommendations"]]
        assert got == expected
        for r in doc["recommendations"]:
            plans = [o["plan"] for o in r["options"]]
            assert r["chosen"]["plan"] in plans and "as_is" in plans
            _, audit = query(demo, "SELECT action FROM audit WHERE recommendation_id = "
                                   f"'{r['recommendation_id']}' ORDER BY timestamp, sequence")
            assert [c["action"] for c in r["commands"]] == [a[0] for a in audit]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["explain", next(iter(by_alert)), "--archive", str(demo)]) == 0
    assert "recommendations made for it" in buf.getvalue() and "as_is: P(failure)" in buf.getvalue()


def test_explain_shows_the_verdict_and_its_evidence(demo: Path) -> None:
    """Issue 12: each window's verdict and confidence, and the raising window's evidence in words."""
    for alert_id, _ in _raised(demo):
        doc = explain(demo, alert_id)
        raising = doc["windows"][-1]
        assert raising["verdict"] in ("anomalous", "defect")
        assert 0.5 <= raising["verdict_confidence"] <= 1.0
        assert doc["messages"][0]["verdict"] == raising["verdict"]
        assert doc["messages"][0]["severity"] == ("info" if raising["verdict"] == "anomalous" else "warning")
        assert raising["evidence"]
        text = render(doc)
        assert f"verdict {raising['verdict']} ({raising['verdict_confidence']:.2f})" in text
        assert f"evidence of the raising window: {raising['evidence']}" in text
