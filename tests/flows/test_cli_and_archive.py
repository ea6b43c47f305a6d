"""`twin demo` and `twin sql` end to end, the archive round trip through DuckDB, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.archive.query import ArchiveError, query
from flows.cli.main import main


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    out = tmp_path_factory.mktemp("demo")
    import contextlib
    import io

    from flows.dataflow import pipeline
    from tests.flows.test_command_path import derates

    buf = io.StringIO()
    # until the prescription step lands, a stand-in gives the demo's (advise mode) audit its entries
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setattr(pipeline, "empty_recommendations", derates)
        code = main(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(out),
                     "--no-progress", "--json"])
    assert code == 0
    return out, json.loads(buf.getvalue().strip().splitlines()[-1])


def test_demo_summary_matches_the_archive(demo_archive) -> None:  # type: ignore[no-untyped-def]
    out, summary = demo_archive
    assert summary["assets"] == 3 and summary["frames"] == 3 * 8 * 48
    cols, rows = query(out, "SELECT count(*) FROM twin_state")
    n_state = rows[0][0]
    _, rows = query(out, "SELECT count(*) FROM features")
    assert rows[0][0] == n_state > 3 * 8 * 20
    _, rows = query(out, "SELECT count(*) FROM alerts")
    assert rows[0][0] == summary["alert_messages"]
    _, rows = query(out, "SELECT count(DISTINCT asset_id), min(date) FROM twin_state")
    assert rows[0][0] == 3 and str(rows[0][1]) == "2026-01-01"


def test_archive_appends_across_runs_without_duplicates(demo_archive, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_archive
    before = query(out, "SELECT count(*) FROM twin_state")[1][0]
    files_before = sorted(p.name for p in out.rglob("*.parquet"))
    assert main(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(out),
                 "--no-progress", "--json"]) == 0
    files_after = sorted(p.name for p in out.rglob("*.parquet"))
    assert set(files_before) < set(files_after)  # old files kept, new files added
    assert query(out, "SELECT count(*) FROM twin_state")[1][0] == before


def test_features_have_one_column_per_feature(demo_archive) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_archive
    cols, rows = query(out, 'SELECT "vib.rms", "vib.env_bpfo_amp", "temperature.mean" '
                            "FROM features WHERE asset_id = 'pump-001' ORDER BY window_start LIMIT 5")
    assert cols == ["vib.rms", "vib.env_bpfo_amp", "temperature.mean"]
    assert len(rows) == 5 and all(0.01 < r[0] < 1.0 and 0 < r[2] < 150 for r in rows)


def test_sql_cli_formats(demo_archive, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_archive
    assert main(["sql", "SELECT asset_id, count(*) AS n FROM twin_state GROUP BY 1 ORDER BY 1",
                 "--archive", str(out), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "asset_id,n" and lines[1].startswith("pump-001,")
    assert main(["sql", "SELECT 1 AS x", "--archive", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"x": 1}
    assert main(["sql", "SELECT 1 AS x", "--archive", str(out)]) == 0
    assert "(1 row)" in capsys.readouterr().out


@pytest.mark.parametrize("sql", [
    "DELETE FROM alerts",
    "CREATE TABLE t AS SELECT 1",
    "COPY (SELECT 1) TO 'x.csv'",
    "SELECT 1; DROP VIEW alerts",
])
def test_sql_refuses_writes(demo_archive, sql: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_archive
    assert main(["sql", sql, "--archive", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("twin: error: the archive is read-only") and "\n" not in err


def test_sql_bad_query_and_missing_archive(tmp_path: Path, demo_archive, capsys) -> None:  # type: ignore[no-untyped-def]
    out, _ = demo_archive
    assert main(["sql", "SELECT nope FROM alerts", "--archive", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: bad query:") and err.count("\n") == 1
    assert main(["sql", "SELECT 1", "--archive", str(tmp_path / "nothing")]) == 2
    assert "no archive" in capsys.readouterr().err
    with pytest.raises(ArchiveError, match="no archive"):
        query(tmp_path, "SELECT 1")


@pytest.mark.parametrize("argv, needle", [
    (["demo", "--assets", "0"], "must be at least 1"),
    (["demo", "--days", "abc"], "expected a number"),
    (["sql"], "the following arguments are required"),
    (["bogus"], "invalid choice"),
])
def test_bad_arguments_give_one_line(argv: list[str], needle: str, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


def test_bad_config_file_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[pipeline]\nwindow_s = -5\n")
    assert main(["demo", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "window_s must be >= 0.001" in capsys.readouterr().err
    cfg.write_text("[pipeline]\nwindow_seconds = 60\n")
    assert main(["demo", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "unknown config key 'window_seconds'" in capsys.readouterr().err


def _readme_sql_examples() -> list[list[str]]:
    import re
    import shlex

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    cmds = []
    for block in blocks:
        for line in block.splitlines():
            line = line.strip()
            if line.startswith((".venv/bin/twin sql", "twin sql")):
                cmds.append(shlex.split(line)[1:])
    return cmds


def _shown_rows(argv: list[str], text: str, cols: list[str]) -> int:
    """How many rows `twin sql` printed, checking the format's frame (header, row-count line)."""
    lines = text.strip().splitlines()
    fmt = argv[argv.index("--format") + 1] if "--format" in argv else "table"
    if fmt == "csv":
        assert lines[0] == ",".join(cols), argv
        return len(lines) - 1
    if fmt == "json":
        assert all(list(json.loads(line)) == cols for line in lines), argv
        return len(lines)
    n = int(lines[-1].strip("()").split()[0])
    assert lines[-1] == f"({n} {'row' if n == 1 else 'rows'})" and len(lines) == n + 3, argv
    return n


def test_readme_sql_examples_return_rows_on_a_demo_archive(demo_archive, capsys) -> None:  # type: ignore[no-untyped-def]
    """Every README example shows rows on the demo's archive: the rows DuckDB returns, all of them."""
    out, summary = demo_archive
    assert summary["alert_messages"] > 0  # the alerts example has something to show
    examples = _readme_sql_examples()
    assert len(examples) >= 3
    for argv in examples:
        cols, rows = query(out, argv[1])
        assert len(rows) > 0, f"README example returns no rows on the demo archive: {argv[1]}"
        if " FROM alerts" in argv[1] and " WHERE " not in argv[1]:
            assert len(rows) == summary["alert_messages"], argv
        assert main([*argv, "--archive", str(out)]) == 0, argv
        assert _shown_rows(argv, capsys.readouterr().out, cols) == len(rows), argv


def test_a_table_not_written_yet_is_an_empty_view_with_its_columns(demo_archive, tmp_path: Path,
                                                                     capsys) -> None:  # type: ignore[no-untyped-def]
    """Round 30: before its first row, ``SELECT count(*) FROM alerts`` was ``Catalog Error: Table
    with name alerts does not exist!`` (exit 2); now 0 rows, and the same columns (names, types,
    order) as the table's view once written (open feature columns aside: none is known yet)."""
    import shutil

    out, _ = demo_archive
    part = tmp_path / "part"
    shutil.copytree(out / "twin_state", part / "twin_state")
    fixed = ("alerts", "twin_state", "recommendations", "audit", "damage_state", "data_quality")
    for table in fixed:
        if not any((out / table).rglob("*.parquet")):
            continue  # nothing to compare the empty view with
        source = part if table != "twin_state" else tmp_path / "other"
        if table == "twin_state":
            shutil.copytree(out / "alerts", source / "alerts")
        written = query(out, f"SELECT column_name, column_type FROM (DESCRIBE {table})")[1]  # noqa: S608
        empty = query(source, f"SELECT column_name, column_type FROM (DESCRIBE {table})")[1]  # noqa: S608
        assert empty == written, table
        assert query(source, f"SELECT count(*) FROM {table}")[1] == [(0,)]  # noqa: S608
    written = query(out, "SELECT column_name, column_type FROM (DESCRIBE features)")[1]
    empty = query(part, "SELECT column_name, column_type FROM (DESCRIBE features)")[1]
    assert len(written) > len(empty) > 4 and [c for c in written if c in empty] == empty
    assert main(["sql", "SELECT count(*) AS n FROM alerts", "--archive", str(part), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["n", "0"]
