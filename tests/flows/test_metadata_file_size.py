"""An asset metadata file larger than any fleet's is refused before it is read (round 49, HOSTILE49B).

It was read whole and then parsed: a 1 GB sparse file took 2.2 GB of memory (and 4 s) before its
first character was found not to be JSON; a larger one could take the machine's memory from the
pipeline. Config files have had the same limit since round 31."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli.main import main
from flows.dataflow.sources.files import MAX_METADATA_BYTES, read_metadata
from flows.dataflow.sources.readers import FileFormatError


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_a_metadata_file_past_the_limit_is_refused_as_too_large(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"fleet{suffix}"
    with path.open("wb") as f:  # sparse: no disk taken
        f.truncate(MAX_METADATA_BYTES + 1)
    with pytest.raises(FileFormatError, match=r"too large \(over 64 MiB") as exc:
        read_metadata(path)
    assert exc.value.path == path


def test_the_cli_says_it_in_one_line_naming_the_flag(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fleet.json"
    with path.open("wb") as f:
        f.truncate(MAX_METADATA_BYTES + 1)
    data = tmp_path / "nab.csv"
    data.write_text("timestamp,value\n" + "".join(f"2024-01-01T00:{i:02d}:00,{i}\n" for i in range(60)))
    argv = ["backtest", str(data), "--metadata", str(path), "--out", str(tmp_path / "o"), "--no-report",
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (f"twin: error: --metadata {path}: too large (over 64 MiB; a fleet's metadata is ~1 KB "
                   "an asset)\n")


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    text = '{"p1": {"kind": "pump"}}'
    path.write_text(text + " " * (MAX_METADATA_BYTES - len(text)))
    assert os.path.getsize(path) == MAX_METADATA_BYTES
    assert read_metadata(path).get("p1").kind == "pump"
