"""`twin backtest` and `twin demo` against a hostile user (round 15): history files and metadata
that used to end in an internal error (exit 1), read gigabytes into memory, run for minutes or
take the last of two assets silently; now each is one line naming the problem, exit 2 (or a
clean run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.flows.test_cli_errors import fails, twin
from tests.flows.test_hostile_inputs import NAB

QUIET = ("--no-progress", "--no-report")


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    p = tmp_path / "good.csv"
    p.write_text(NAB)
    return p


@pytest.mark.parametrize("flag", ["input", "--events", "--metadata"])
def test_a_symbolic_link_loop_is_named_not_an_internal_error(tmp_path: Path, good_csv: Path,
                                                              flag: str) -> None:
    """main: `twin: internal error: RuntimeError: Symlink loop from ...`, exit 1 (input, events);
    the metadata said `[Errno 40] Too many levels of symbolic links`."""
    suffix = ".json" if flag == "--metadata" else ".csv"
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    a.symlink_to(b)
    b.symlink_to(a)
    argv = [str(a)] if flag == "input" else [str(good_csv), flag, str(a)]
    line = fails("backtest", *argv, "--out", str(tmp_path / "o"), *QUIET)
    assert f"{a}: a loop of symbolic links" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("doc, key", [
    ('{"pump-1": {"nominal_speed_hz": 25}, "pump-1": {"nominal_speed_hz": 50}}', "pump-1"),
    ('{"pump-1": {"nominal_speed_hz": 50, "nominal_speed_hz": 25}}', "nominal_speed_hz"),
    ('{"assets": [{"asset_id": "pump-1", "asset_id": "pump-2"}]}', "asset_id"),
])
def test_a_json_metadata_key_given_twice_is_refused(tmp_path: Path, good_csv: Path, doc: str,
                                                     key: str) -> None:
    """main: JSON kept the last of two entries silently (the first asset's metadata was dropped)
    where the same file in TOML is refused."""
    meta = tmp_path / "assets.json"
    meta.write_text(doc)
    line = fails("backtest", str(good_csv), "--metadata", str(meta), "--out", str(tmp_path / "o"), *QUIET)
    assert f"{meta}: invalid JSON: key {key!r} appears twice in one object" in line


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """``head`` then NUL bytes up to ``size`` (a sparse file: no disk used)."""
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def test_a_header_line_without_end_is_refused_having_read_its_limit(tmp_path: Path) -> None:
    """main: the whole line was read (a 2 GiB one: 33 s, 4.3 GB of memory), then `twin: internal
    error: Error: field larger than field limit (131072)`, exit 1."""
    from flows.dataflow.sources.readers.source import MAX_LINE_CHARS

    nul = _sparse(tmp_path / "nul.csv", b"", MAX_LINE_CHARS + 1024)
    line = fails("backtest", str(nul), "--out", str(tmp_path / "o"), *QUIET)
    assert f"{nul} line 1: a line longer than {MAX_LINE_CHARS:,} characters" in line


def test_a_data_line_without_end_is_refused_at_its_line(tmp_path: Path) -> None:
    """main: read whole to name it (a 2 GiB line: 4.4 GB of memory) as `malformed CSV: field
    larger than field limit`."""
    from flows.dataflow.sources.readers.source import MAX_LINE_CHARS

    big = _sparse(tmp_path / "big.csv", b"timestamp,value\n2024-01-01T00:00:00,1\n", MAX_LINE_CHARS + 1024)
    line = fails("backtest", str(big), "--out", str(tmp_path / "o"), *QUIET)
    assert f"{big} line 3: a line longer than {MAX_LINE_CHARS:,} characters" in line


def test_a_file_with_more_channel_columns_than_the_limit_is_refused_up_front(tmp_path: Path) -> None:
    """main: ran (a CSV of 10^6 columns, 12 MB, had not finished after 5 minutes); now the
    header is enough to refuse it."""
    from flows.dataflow.sources.readers.layout import MAX_CHANNELS

    n = MAX_CHANNELS + 1
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp," + ",".join(f"c{i}" for i in range(n)) + "\n"
                    + "2024-01-01T00:00:00," + ",".join(["1"] * n) + "\n")
    line = fails("backtest", str(wide), "--out", str(tmp_path / "o"), *QUIET)
    assert f"{wide}: {n:,} channel columns, at most {MAX_CHANNELS:,} per file" in line
    assert not (tmp_path / "o").exists()


def test_a_demo_that_closes_no_window_writes_its_plot(tmp_path: Path) -> None:
    """main: `twin: error: Number of rows must be a positive integer, not 0` (matplotlib), exit 2,
    no demo.png, for a run shorter than one window."""
    out = tmp_path / "o"
    rc, _, err = twin("demo", "--days", "1e-300", "--assets", "1", "--out", str(out), "--json")
    assert rc == 0, err
    assert (out / "demo.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["scores.parquet",
                                  "archive/features/date=2024-01-01/part-x-w0-000000.parquet"])
def test_an_input_among_the_files_the_backtest_writes_is_refused_and_kept(tmp_path: Path, name: str) -> None:
    """main: `--out` the input's folder with `--fresh` deleted the input before it was read
    (`twin: error: [Errno 2] No such file or directory`, the user's file gone); without
    `--fresh` the run replaced it by its own scores.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "bt"
    data = out / name
    data.parent.mkdir(parents=True)
    ts = pa.array([i * 60_000_000 for i in range(600)], pa.timestamp("us"))
    temp = [i % 9 * 1.0 for i in range(600)]
    pq.write_table(pa.table({"timestamp": ts, "asset_id": ["p1"] * 600, "temp": temp}), data)
    before = data.read_bytes()
    line = fails("backtest", str(data), "--out", str(out), "--fresh", *QUIET)
    assert f"input {data} is a file the backtest writes or --fresh deletes in --out {out}" in line
    assert data.read_bytes() == before


@pytest.mark.parametrize(("header", "code"), [("timestamp,asset_id,te\x00mp", "0000"),
                                              ("timestamp,asset_id,temp\x1b[31m", "001B")])
def test_a_control_character_in_the_header_is_the_header_s_one_line(tmp_path: Path, header: str,
                                                                    code: str) -> None:
    """Round 32 noticed: a NUL in a CSV header's column made every record a ``bad_channel`` dead
    letter (the backtest ran, then failed at 100% dead letters); now it is the header's refusal."""
    data = tmp_path / "nul.csv"
    data.write_text(f"{header}\n2024-01-01T00:00:00Z,a,1\n2024-01-01T00:01:00Z,a,2\n")
    line = fails("backtest", str(data), "--out", str(tmp_path / "o"), *QUIET)
    assert line.startswith(f"twin: error: input file {data} line 1: the header's column "), line
    assert line.endswith(f"holds the non-printable character U+{code}"), line
    assert not (tmp_path / "o").exists()
