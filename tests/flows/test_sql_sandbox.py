"""`twin sql` can read the archive's rows and nothing else, and write nothing, whatever the SQL.

The attacks run on the connection itself (``flows.archive.query.connect``), past the friendly
statement-type check, because the sandbox is the guard; a few also go through the CLI. Each test
asserts that the target file was not written (or is unchanged) or that its content did not leak.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.archive.query import connect, query
from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_stop_signals import sigint_interrupts

SECRET = "TOPSECRET-5f1c"


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An archive, a secret file beside it (CSV, text and Parquet), and a scratch cwd."""
    archive = small_archive(tmp_path / "archive")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"k,v\nkey,{SECRET}\n")
    pq.write_table(pa.table({"v": [SECRET]}), outside / "secret.parquet")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return {"archive": archive, "outside": outside, "cwd": cwd, "tmp": tmp_path}


def _tree(root: Path) -> dict[str, str]:
    """Every file under root with its content hash (to prove nothing was written or changed)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _attack(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Run the SQL; it must fail. Returns everything the attempt produced, as text."""
    with pytest.raises(duckdb.Error) as exc:
        print(con.execute(sql).fetchall())
    return str(exc.value)


def _try(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """Run the SQL, failing or not (``ATTACH ':memory:'`` is allowed: it is memory)."""
    try:
        return str(con.execute(sql).fetchall())
    except duckdb.Error as exc:
        return str(exc)


def _an_archive_file(archive: Path, table: str = "alerts") -> Path:
    return next((archive / table).rglob("*.parquet"))


WRITES = [
    "COPY (SELECT 'x' AS k) TO '{target}'",
    "COPY (SELECT 'x' AS k) TO '{target}' (FORMAT parquet)",
    "EXPLAIN ANALYZE COPY (SELECT 'x' AS k) TO '{target}'",
    "EXPLAIN ANALYZE COPY (SELECT NULL AS alert_id) TO '{target}' (FORMAT parquet)",
    "ATTACH '{target}' AS evil",
    "EXPORT DATABASE '{target}'",
    "CREATE TABLE t AS SELECT 1 AS a; COPY t TO '{target}'",
    "CREATE MACRO m() AS TABLE SELECT 1 AS a; COPY (FROM m()) TO '{target}'",
    "SELECT 1; COPY (SELECT 1) TO '{target}'",
]


@pytest.mark.parametrize("where", ["outside", "archive_new", "archive_existing", "cwd_memory_wal",
                                   "cwd_memory"])
@pytest.mark.parametrize("sql", WRITES)
def test_no_statement_writes_anywhere(env: dict[str, Path], sql: str, where: str) -> None:
    archive = env["archive"]
    target = {
        "outside": env["outside"] / "written.csv",
        "archive_new": _an_archive_file(archive).parent / "evil.parquet",
        "archive_existing": _an_archive_file(archive),
        # DuckDB always allows its database's own paths, even for :memory: (relative to the cwd)
        "cwd_memory_wal": Path(":memory:.wal"),
        "cwd_memory": Path(":memory:"),
    }[where]
    before = _tree(env["tmp"])
    con = connect(archive)
    _try(con, sql.format(target=target))
    con.close()
    assert _tree(env["tmp"]) == before
    assert query(archive, "SELECT count(*), count(alert_id) FROM alerts")[1] == [(3, 3)]


READS = [
    "SELECT * FROM read_csv('{dir}/secret.csv')",
    "SELECT * FROM '{dir}/secret.csv'",
    "SELECT * FROM read_text('{dir}/secret.csv')",
    "SELECT * FROM read_blob('{dir}/secret.csv')",
    "SELECT * FROM read_json('{dir}/secret.csv')",
    "SELECT * FROM sniff_csv('{dir}/secret.csv')",
    "SELECT * FROM read_parquet('{dir}/secret.parquet')",
    "SELECT * FROM parquet_metadata('{dir}/secret.parquet')",
    "SELECT * FROM glob('{dir}/*')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM read_text('/dev/stdin')",
    "ATTACH '{dir}/secret.csv' AS s",
    "SELECT * FROM 'https://example.com/data.parquet'",
    "SELECT * FROM read_parquet('s3://bucket/data.parquet')",
]


@pytest.mark.parametrize("sql", READS)
def test_nothing_outside_the_archive_is_read(env: dict[str, Path], sql: str) -> None:
    con = connect(env["archive"])
    text = _attack(con, sql.format(dir=env["outside"]))
    assert SECRET not in text and "root:" not in text


def test_archive_files_are_reachable_only_through_the_views(env: dict[str, Path]) -> None:
    con = connect(env["archive"])
    _attack(con, f"SELECT * FROM read_parquet('{_an_archive_file(env['archive'])}')")
    _attack(con, f"SELECT * FROM glob('{env['archive']}/**')")
    assert con.execute("SELECT count(*) FROM features").fetchall() == [(6,)]


LOCKED = ["enable_external_access", "disabled_filesystems", "lock_configuration", "allowed_directories",
          "allowed_paths", "temp_directory", "autoload_known_extensions", "autoinstall_known_extensions",
          "allow_community_extensions", "allow_unsigned_extensions", "python_enable_replacements",
          "profiling_output", "log_query_path", "secret_directory", "home_directory", "extension_directory",
          "memory_limit", "enable_progress_bar"]


@pytest.mark.parametrize("setting", LOCKED)
def test_settings_cannot_be_changed_back(env: dict[str, Path], setting: str) -> None:
    con = connect(env["archive"])
    before = con.execute("SELECT value FROM duckdb_settings() WHERE name = ?", [setting]).fetchall()
    value = {"enable_external_access": "true", "lock_configuration": "false",
             "allowed_directories": f"['{env['outside']}']", "allowed_paths": f"['{env['outside']}/x']",
             "autoload_known_extensions": "true", "autoinstall_known_extensions": "true",
             "allow_community_extensions": "true", "allow_unsigned_extensions": "true",
             "python_enable_replacements": "true", "disabled_filesystems": "''",
             "memory_limit": "'1GB'", "enable_progress_bar": "true"}.get(setting, f"'{env['outside']}/x'")
    for sql in (f"SET {setting} = {value}", f"RESET {setting}", f"SET GLOBAL {setting} = {value}",
                f"PRAGMA {setting} = {value}"):
        _attack(con, sql)
    after = con.execute("SELECT value FROM duckdb_settings() WHERE name = ?", [setting]).fetchall()
    assert after == before


def test_the_sandbox_settings_are_in_force(env: dict[str, Path]) -> None:
    con = connect(env["archive"])
    got = dict(con.execute("SELECT name, value FROM duckdb_settings()").fetchall())
    assert got["enable_external_access"] == "false" and got["lock_configuration"] == "true"
    assert got["allowed_directories"] == "[]" and got["temp_directory"] == ""
    assert got["autoload_known_extensions"] == got["autoinstall_known_extensions"] == "false"
    assert got["python_enable_replacements"] == "false" and got["enable_progress_bar"] == "false"


def test_a_slow_query_writes_only_its_rows_to_stdout(env: dict[str, Path],
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """DuckDB draws a progress bar on fd 1 once a query runs past 2 s: before round 42 it came before
    the rows of `--format json` (a reader's JSON parse failed). This query takes 3-4 s on the dev VM."""
    sql = "SELECT sum(a * b) AS s FROM range(400000000) t(a), range(1) u(b)"
    assert main(["sql", sql, "--archive", str(env["archive"]), "--format", "json"]) == 0
    out = capfd.readouterr().out
    assert [json.loads(line) for line in out.splitlines()] == [{"s": sum(range(400000000)) * 0}]


@pytest.mark.parametrize("sql", [
    "INSTALL httpfs", "FORCE INSTALL httpfs", "LOAD httpfs", "LOAD '{dir}/evil.duckdb_extension'",
    "INSTALL httpfs FROM '{dir}'", "PRAGMA enable_profiling", "CALL enable_logging(storage = 'file', "
    "storage_path = '{dir}/log')", "CREATE PERSISTENT SECRET s (TYPE http, BEARER_TOKEN 'x')",
])
def test_no_extensions_profiling_logs_or_persistent_secrets(env: dict[str, Path], sql: str) -> None:
    before = _tree(env["tmp"])
    home = _tree(Path.home() / ".duckdb") if (Path.home() / ".duckdb").is_dir() else {}
    con = connect(env["archive"])
    _attack(con, sql.format(dir=env["outside"]))
    con.execute("SELECT count(*) FROM alerts").fetchall()
    assert _tree(env["tmp"]) == before
    assert (_tree(Path.home() / ".duckdb") if (Path.home() / ".duckdb").is_dir() else {}) == home


def test_python_objects_are_not_scanned(env: dict[str, Path]) -> None:
    leaked = pa.table({"v": [SECRET]})  # a replacement scan would find this local by name
    con = connect(env["archive"])
    assert SECRET not in _attack(con, "SELECT * FROM leaked")
    assert leaked.num_rows == 1


def test_in_memory_tricks_stay_in_their_connection(env: dict[str, Path]) -> None:
    con = connect(env["archive"])
    con.execute("CREATE OR REPLACE VIEW alerts AS SELECT 42 AS alert_id")
    con.execute("CREATE MACRO features() AS TABLE SELECT 1 AS x")
    con.close()
    assert query(env["archive"], "SELECT count(*) FROM alerts")[1] == [(3,)]


@pytest.mark.parametrize("sql", [
    "EXPLAIN ANALYZE COPY (SELECT 'x' AS k) TO '{target}'",
    "SELECT 1; COPY (SELECT 1) TO '{target}'",
    "COPY (SELECT 1) TO '{target}'",
])
def test_cli_refuses_in_one_line_and_writes_nothing(env: dict[str, Path], sql: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = _an_archive_file(env["archive"]).parent / "evil.csv"
    before = _tree(env["tmp"])
    assert main(["sql", sql.format(target=target), "--archive", str(env["archive"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: ") and err.count("\n") == 1
    assert _tree(env["tmp"]) == before


def test_range_of_a_billion_streams_the_first_rows(env: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "SELECT * FROM range(1000000000)", "--archive", str(env["archive"]),
                 "--format", "csv", "--max-rows", "25"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["range", *(str(i) for i in range(25))]
    assert out.err.strip() == "twin: note: output cut at 25 rows (--max-rows N, 0 = no limit)"


def test_max_rows_default_env_and_no_limit(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    arch = ["--archive", str(env["archive"])]
    assert main(["sql", "SELECT * FROM range(20000)", *arch, "--format", "json"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 10_000 and "cut at 10000 rows" in out.err
    monkeypatch.setenv("TWIN_SQL_MAX_ROWS", "3")
    assert main(["sql", "SELECT * FROM range(20000)", *arch]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == "(3 rows, more not shown)" and "cut at 3 rows" in out.err
    assert main(["sql", "SELECT * FROM range(20000)", *arch, "--format", "csv", "--max-rows", "0"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 20_001 and out.err == ""
    assert main(["sql", "SELECT * FROM range(3)", *arch, "--format", "csv"]) == 0
    assert capsys.readouterr().err == ""  # exactly max_rows rows: nothing was cut


def test_ctrl_c_prints_one_line_and_exits_130(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import flows.archive.query

    real = flows.archive.query.check_read_only

    def press_ctrl_c_once(con: duckdb.DuckDBPyConnection, sql: str) -> None:
        real(con, sql)  # the query starts right after this: interrupt it while DuckDB computes
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()

    monkeypatch.setattr(flows.archive.query, "check_read_only", press_ctrl_c_once)
    sql = "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b"
    with sigint_interrupts():  # a background run ignores it
        assert main(["sql", sql, "--archive", str(env["archive"])]) == 130
    out = capsys.readouterr()
    assert out.err == "twin: interrupted\n" and out.out == ""


TYPES_SQL = """SELECT 1.50::DECIMAL(10,2) AS dec, 123456789012345678901234567890::HUGEINT AS huge,
 INTERVAL 1 DAY + INTERVAL 90 MINUTE AS ival, '\\x00\\xFFab'::BLOB AS blob,
 '1b4e28ba-2fa1-11d2-883f-0016d3cca427'::UUID AS uid, TIME '12:34:56.5' AS t,
 TIMESTAMPTZ '2026-01-02 03:04:05+00' AS tstz, DATE '2026-01-02' AS d, TIMESTAMP '2026-01-02 03:04:05' AS ts,
 [1, 2, NULL] AS lst, {'a': 1.5, 'b': [1, 2]} AS st, MAP {'k': 1, 'j': 2} AS mp, MAP {1: 'x'} AS imap,
 'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, '-inf'::FLOAT AS ninf, [1.0, 'nan'::DOUBLE] AS nanlist,
 NULL AS nul, true AS b, 'he said "hi"\n' AS s, 'a'::ENUM('a', 'b') AS e"""


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        msg = f"not JSON: {name}"
        raise ValueError(msg)

    return json.loads(text, parse_constant=refuse)


def test_json_encodes_every_duckdb_type(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", TYPES_SQL, "--archive", str(env["archive"]), "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    row = _strict(lines[0])
    assert row == {
        "dec": 1.5, "huge": 123456789012345678901234567890, "ival": "P1DT1H30M", "blob": "AP9hYg==",
        "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "t": "12:34:56.500000",
        "tstz": "2026-01-02T03:04:05+00:00", "d": "2026-01-02", "ts": "2026-01-02T03:04:05",
        "lst": [1, 2, None], "st": {"a": 1.5, "b": [1, 2]}, "mp": {"k": 1, "j": 2}, "imap": {"1": "x"},
        "nan": None, "inf": None, "ninf": None, "nanlist": [1.0, None], "nul": None, "b": True,
        "s": 'he said "hi"\n', "e": "a",
    }


def test_csv_and_table_handle_every_type(env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import io

    assert main(["sql", TYPES_SQL, "--archive", str(env["archive"]), "--format", "csv"]) == 0
    header, row = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    got = dict(zip(header, row, strict=True))
    assert got["dec"] == "1.5" and got["blob"] == "AP9hYg==" and got["ival"] == "P1DT1H30M"
    assert json.loads(got["st"]) == {"a": 1.5, "b": [1, 2]} and got["nul"] == ""
    assert got["tstz"] == "2026-01-02 03:04:05+00:00" and got["s"] == 'he said "hi"\n'
    assert main(["sql", TYPES_SQL, "--archive", str(env["archive"])]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "(1 row)" and "AP9hYg==" in out



ENDLESS = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t"


@pytest.mark.parametrize("how, sql", [
    (["--timeout", "1"], ENDLESS),  # never ends while computing
    (["--timeout", "1", "--max-rows", "0"],  # every batch is quick; the whole fetch is not
     "SELECT a.range * b.range FROM range(100000) a, range(100000) b"),
    ([], ENDLESS),  # TWIN_SQL_TIMEOUT below
])
def test_a_query_that_never_ends_is_stopped_at_its_timeout(env: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], how: list[str],
                                                          sql: str) -> None:
    import time

    monkeypatch.setenv("TWIN_SQL_TIMEOUT", "1.5")
    out = env["tmp"] / "rows.csv"
    t0 = time.monotonic()
    with out.open("w") as sink:
        monkeypatch.setattr("sys.stdout", sink)
        assert main(["sql", sql, "--archive", str(env["archive"]), "--format", "csv", *how]) == 2
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert err == f"twin: error: query stopped after {how[1] if how else '1.5'} s (--timeout SECONDS, env " \
                  "TWIN_SQL_TIMEOUT; 0 = no limit)\n"


def test_timeout_zero_is_no_limit_and_bad_values_are_one_line(env: dict[str, Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    arch = ["--archive", str(env["archive"])]
    assert main(["sql", "SELECT count(*) FROM range(3)", *arch, "--format", "csv", "--timeout", "0"]) == 0
    assert capsys.readouterr().out.splitlines() == ["count_star()", "3"]
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(SystemExit) as stop:
            main(["sql", "SELECT 1", *arch, "--timeout", bad])
        assert stop.value.code == 2
        assert capsys.readouterr().err.startswith("twin: error: argument --timeout: ")


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM _raw_features",
    "SELECT count(*) FROM query_table('_raw_' || 'features')",
    "SELECT count(*) FROM _raw",
    "SELECT count(*) FROM python_arrow_scan()",
])
def test_the_views_raw_files_are_not_a_table_of_their_own(tmp_path: Path, sql: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Round 17 (CLEAN20): each view read a registered `_raw_<table>`, which a query could read
    too (every write of a key, not the newest: duplicates, plus the views' bookkeeping columns
    `_write_seq` and `__twin_file_rank`) and SHOW ALL TABLES listed. Now no such name exists."""
    archive = small_archive(tmp_path / "a")
    small_archive(archive, run_id="20260102T000000-bbbbbbbb")  # a second write of every key
    assert main(["sql", f"{sql} UNION ALL SELECT count(*) FROM features", "--archive", str(archive)]) == 2
    assert capsys.readouterr().err.startswith("twin: error: bad query: ")


def test_show_all_tables_lists_the_views_only_and_they_outlive_their_relations(tmp_path: Path) -> None:
    import gc

    archive = small_archive(tmp_path / "a")
    small_archive(archive, run_id="20260102T000000-bbbbbbbb")
    con = connect(archive, ("features", "alerts"))
    gc.collect()  # the Arrow datasets are held by the views, not by a Python name
    try:
        names = sorted(r[2] for r in con.execute("SHOW ALL TABLES").fetchall())
        assert names == ["alerts", "features"]
        assert con.execute("SELECT count(*) FROM features").fetchall() == [(6,)]  # newest write per key
        cols = [r[0] for r in con.execute("DESCRIBE features").fetchall()]
        assert "_write_seq" not in cols and "__twin_file_rank" not in cols and "_rn" not in cols
    finally:
        con.close()


@pytest.mark.parametrize("path", ["/no/such.parquet", "gone.parquet", "../*/*.parquet",
                                  "features/date=2026-01-01/x.parquet"])
def test_a_file_the_query_names_is_a_bad_query_not_a_changed_archive(
        env: dict[str, Path], path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: ``read_parquet('<a path that does not exist>')`` (the sandbox refuses any path;
    DuckDB quotes the query, so the path, when it is short) was taken for a file a compaction
    removed meanwhile: "the archive changed during the query
    ... run it again", exit 75, after reading the whole archive twice. It is a bad query, exit 2."""
    code = main(["sql", f"SELECT * FROM read_parquet('{path}')", "--archive", str(env["archive"])])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err == ("twin: error: bad query: Permission Error: File system LocalFileSystem has been "
                   "disabled by configuration\n")


def test_the_table_format_escapes_control_characters_csv_and_json_keep_them(
        env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: the table format printed a cell's escape sequences (which drive the terminal:
    clear it, retitle the window, hide text) and newlines (a forged row) as they were."""
    sql = "SELECT chr(27) || '[2Jx' AS esc, 'a' || chr(10) || 'b' || chr(8238) AS nl"
    arch = ["--archive", str(env["archive"])]
    assert main(["sql", sql, *arch]) == 0
    out = capsys.readouterr().out
    assert [ln.rstrip() for ln in out.splitlines()] == [
        "esc       nl", "--------  ----------", "\\x1b[2Jx  a\\nb\\u202e", "(1 row)"]
    assert main(["sql", sql, *arch, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"esc": "\x1b[2Jx", "nl": "a\nb\u202e"}


def test_json_lines_keep_every_column_of_a_repeated_name(env: dict[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: ``SELECT 1 AS a, 2 AS a`` printed ``{"a": 2}`` (the first column lost); now the
    later ones are renamed as DuckDB renames them in a subquery."""
    arch = ["--archive", str(env["archive"])]
    assert main(["sql", "SELECT 1 AS a, 2 AS a, 3 AS a_1, 4 AS a", *arch, "--format", "json"]) == 0
    assert capsys.readouterr().out == '{"a": 1, "a_1": 2, "a_1_1": 3, "a_1_1_1": 4}\n'
    assert main(["sql", "SELECT 1 AS a, 2 AS a", *arch, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["a,a", "1,2"]


def test_a_query_past_its_memory_limit_fails_in_one_line(
        env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 23: the connection had DuckDB's default limit, 80 % of the machine's memory (a GROUP BY
    of 60 million keys took 2.4 GB before answering); now a quarter of it, or --memory-limit MIB."""
    from flows.archive.query import default_memory_mib

    arch = ["--archive", str(env["archive"])]
    assert main(["sql", "SELECT current_setting('memory_limit') AS m", *arch, "--format", "csv"]) == 0
    number, unit = capsys.readouterr().out.splitlines()[1].split()
    shown_mib = float(number) * {"MiB": 1, "GiB": 1024}[unit]
    machine_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    assert abs(shown_mib - default_memory_mib()) <= 0.02 * default_memory_mib() + 1  # DuckDB rounds
    assert shown_mib <= 0.26 * machine_mib or default_memory_mib() == 64
    monkeypatch.setenv("TWIN_SQL_MEMORY_MIB", "96")
    assert main(["sql", "SELECT current_setting('memory_limit') AS m", *arch, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["m", "96.0 MiB"]
    big = "SELECT count(*) FROM (SELECT i, count(*) FROM range(20000000) t(i) GROUP BY i)"
    assert main(["sql", big, *arch, "--memory-limit", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: bad query: Out of Memory Error: ") and err.count("\n") == 1
    assert err.rstrip().endswith("(the query's memory limit: --memory-limit MIB, env TWIN_SQL_MEMORY_MIB; "
                                 "nothing spills to disk)")
    with pytest.raises(SystemExit):
        main(["sql", "SELECT 1", *arch, "--memory-limit", "10"])
    assert "argument --memory-limit: must be at least 64, got 10" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_memory_limit_beyond_duckdbs_is_its_largest_not_an_internal_error(
        env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        how: str) -> None:
    """Round 49: ``--memory-limit`` (or TWIN_SQL_MEMORY_MIB) of 2^44 MiB or more was handed to DuckDB
    as it was: ``twin: internal error: ParserException: ... Memory value out of range``, exit 1. A
    limit beyond DuckDB's largest is its largest (no limit in practice), and the query answers."""
    from flows.archive.query import MAX_MEMORY_MIB

    huge = "99999999999999999999"
    arch = ["--archive", str(env["archive"])]
    flag = ["--memory-limit", huge] if how == "flag" else []
    if how == "env":
        monkeypatch.setenv("TWIN_SQL_MEMORY_MIB", huge)
    query_text = "SELECT current_setting('memory_limit') AS m, count(*) AS n FROM alerts"
    assert main(["sql", query_text, *arch, *flag, "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "m,n" and int(out[1].split(",")[1]) >= 0
    with duckdb.connect(":memory:", config={"memory_limit": f"{MAX_MEMORY_MIB}MiB"}) as con:
        assert out[1].split(",")[0] == con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


@pytest.mark.parametrize("sql", ["PIVOT alerts ON severity USING count(*)",
                                 "SELECT * FROM (PIVOT alerts ON severity USING count(*))"])
def test_a_pivot_without_an_in_list_is_refused_naming_pivot_and_the_way_that_works(
        env: dict[str, Path], capsys: pytest.CaptureFixture[str], sql: str) -> None:
    """Round 49: DuckDB runs a PIVOT without IN (...) as several statements (it first creates an
    enum type: a write), and the refusal said ``MULTI statements are refused (use SELECT)``, naming
    no statement the user wrote. Now it names PIVOT and the form that runs, which does."""
    arch = ["--archive", str(env["archive"])]
    assert main(["sql", sql, *arch]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "MULTI" not in err, err
    assert "a PIVOT without an IN list is refused" in err and "IN ('a', 'b')" in err, err
    listed = "PIVOT alerts ON severity IN ('info', 'warning', 'critical') USING count(*)"
    assert main(["sql", listed, *arch, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split(",")[-3:] == ["info", "warning", "critical"]


def test_times_are_utc_whatever_the_machines_zone(env: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The archive's times and its ``date`` folders are UTC; so are a query's (round 50: DuckDB took
    the machine's zone, and a day by ``::DATE`` or an ``hour()`` was a local one)."""
    monkeypatch.setenv("TZ", "America/New_York")
    sql = "SELECT TIMESTAMPTZ '2026-01-02 03:04:05+00' AS t, hour(t) AS h, t::DATE AS d"
    assert main(["sql", sql, "--archive", str(env["archive"]), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "2026-01-02 03:04:05+00:00,3,2026-01-02"
