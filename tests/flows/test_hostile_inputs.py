"""`twin` against a hostile user (round 12): inputs that are not files, endless files, paths that
resolve to the working folder, configs nested to death, a query that never ends, SIGTERM.

Each case used to hang, eat memory, end in an internal error (exit 1) or write where it should
not; now it is one line naming the problem and exit 2 (or a clean stop)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.flows.test_cli_errors import fails

NAB = "timestamp,value\n" + "".join(f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00,{i % 7}\n" for i in range(600))


@pytest.fixture
def good_csv(tmp_path: Path) -> Path:
    p = tmp_path / "good.csv"
    p.write_text(NAB)
    return p


# ---------------------------------------------------------------- inputs that are not files


@pytest.mark.parametrize("flag", ["input", "--events", "--metadata"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, good_csv: Path, flag: str) -> None:
    fifo = tmp_path / ("pipe.json" if flag == "--metadata" else "pipe.csv")
    os.mkfifo(fifo)  # nobody writes it: opening it would block for ever
    argv = [str(fifo)] if flag == "input" else [str(good_csv), flag, str(fifo)]
    line = fails("backtest", *argv, "--out", str(tmp_path / "o"), "--no-progress", "--no-report")
    assert f"{fifo}: not a regular file (a FIFO)" in line


@pytest.mark.parametrize("flag", ["input", "--metadata"])
def test_an_endless_device_is_refused_not_read(tmp_path: Path, good_csv: Path, flag: str) -> None:
    zero = tmp_path / ("zero.json" if flag == "--metadata" else "zero.csv")
    zero.symlink_to("/dev/zero")  # a header line without end: read, it fills the memory
    argv = [str(zero)] if flag == "input" else [str(good_csv), flag, str(zero)]
    line = fails("backtest", *argv, "--out", str(tmp_path / "o"), "--no-progress", "--no-report")
    assert f"{zero}: not a regular file (a character device)" in line


def test_a_folder_as_input_is_named_as_such(tmp_path: Path) -> None:
    folder = tmp_path / "data.csv"
    folder.mkdir()
    line = fails("backtest", str(folder), "--out", str(tmp_path / "o"), "--no-progress", "--no-report")
    assert f"{folder}: not a regular file (a folder)" in line
