"""Fixtures shared by the contract tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from flows.cli.main import main


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real archive: a small demo run (the whole dataflow, its archive sinks) with alerts.
    Tests only read it (copy it to change it)."""
    out = tmp_path_factory.mktemp("archive")
    from flows.dataflow import pipeline
    from tests.flows.test_command_path import derates

    # until the prescription step lands, a stand-in gives the demo's (advise mode) audit its entries
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()):
        mp.setattr(pipeline, "empty_recommendations", derates)
        code = main(["demo", "--assets", "3", "--days", "8", "--seed", "5", "--out", str(out),
                     "--no-progress", "--json"])
    assert code == 0
    return out
