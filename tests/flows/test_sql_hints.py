"""`twin sql`'s line for an analyst's two commonest slips says the way out (round 48, USER48):
DuckDB's own words ("Referenced table "vib" not found!", "Table with name alert does not exist!")
did not say that a feature's dotted name needs double quotes, nor which views there are."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli.main import main
from tests.flows.archive_fixtures import small_archive


def _err(archive: Path, sql: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["sql", sql, "--archive", str(archive)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("twin: error: bad query: ") and err.count("\n") == 1, err
    return err


def test_an_unquoted_feature_name_and_a_misspelt_view_say_the_way_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = small_archive(tmp_path / "archive")
    err = _err(archive, "SELECT vib.rms FROM features", capsys)
    assert 'Referenced table "vib" not found' in err and 'goes in double quotes: "vib.<feature>")' in err
    assert main(["sql", 'SELECT "vib.rms" FROM features', "--archive", str(archive)]) == 0  # the way out
    capsys.readouterr()
    err = _err(archive, "SELECT * FROM alert", capsys)
    assert err.rstrip().endswith("(the archive's views: features, twin_state, alerts, recommendations, "
                                 "damage_state, data_quality, audit)"), err
    # a real view's or alias's slip keeps DuckDB's words alone
    assert "(" not in _err(archive, "SELECT f.nope FROM features f", capsys).split("Binder Error")[1]


def test_the_hints_follow_duckdbs_error_kind_not_a_literal_quoting_its_words(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Round 49 (HOSTILE49): a conversion error quoting a literal with DuckDB's words got a hint; a
    quoted view name with a space got none."""
    archive = small_archive(tmp_path / "archive")
    for literal in ('Referenced table "vib" not found', "Table with name foo does not exist"):
        err = _err(archive, f"SELECT '{literal}'::INT", capsys)
        assert "Conversion Error" in err and err.rstrip().endswith("to INT32"), err  # the base: a hint
    err = _err(archive, 'SELECT * FROM "alert s"', capsys)
    assert err.rstrip().endswith("(the archive's views: features, twin_state, alerts, recommendations, "
                                 "damage_state, data_quality, audit)"), err
