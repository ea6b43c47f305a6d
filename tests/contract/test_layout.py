"""The layout stays readable: one definition of each shared thing, no oversized modules."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.codec.show import show_value
from twin_models.records import AssetEvent, ScalarSample, telemetry_kind
from twin_models.text import format_duration

ROOT = Path(__file__).parents[2]
CODE = [p for d in ("flows", "twin_models") for p in (ROOT / d).rglob("*.py")]

SHARED = {  # what is defined once (and where)
    r"^EPOCH\s*=": "twin_models/records.py",
    r"^Telemetry\s*=": "twin_models/records.py",
    r"^MAX_ID_CHARS\s*=": "twin_models/records.py",
    r"^def (_show|show_value)\(": "flows/codec/show.py",
    r"^def (_fmt_duration|_fmt_h|_hours|format_duration)\(": "twin_models/text.py",
}


@pytest.mark.parametrize("pattern", sorted(SHARED))
def test_shared_definitions_exist_once(pattern: str) -> None:
    rx = re.compile(pattern, re.M)
    where = sorted(str(p.relative_to(ROOT)) for p in CODE if rx.search(p.read_text()))
    assert where == [SHARED[pattern]]


def test_telemetry_kind_is_the_one_dispatch() -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    assert telemetry_kind(ScalarSample("a", "t", ts, 1.0)) == "scalar"
    assert telemetry_kind(AssetEvent("a", ts, "failure")) == "event"
    with pytest.raises(TypeError, match="not a telemetry record: str"):
        telemetry_kind("a")  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert format_duration(None) == "n/a"
    assert format_duration(float("inf"), missing="") == ""
    assert format_duration(5 * 3600) == "5.0 h"
    assert format_duration(3 * 86400) == "3.0 d"
    assert format_duration(3 * 86400, unit="h", suffix=False) == "72.0"


def test_show_value_is_short() -> None:
    assert show_value(list(range(10**6))) == "list of length 1000000"
    assert len(show_value("x" * 10**7)) <= 80
    assert show_value(1.5) == "1.5"


MAX_MODULE_LINES = 450


def test_no_module_is_oversized() -> None:
    """Issue 9: a module over ~450 lines is split along its seams (see CONTRIBUTING.md)."""
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in CODE}
    assert len(sizes) > 60
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_every_package_states_its_contract() -> None:
    """Each package's ``__init__`` opens with a docstring saying what lives there."""
    import ast

    for init in sorted(p for p in CODE if p.name == "__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, init.relative_to(ROOT)


def test_python_m_flows_cli_is_the_twin_command() -> None:
    """``python -m flows.cli`` still runs ``twin`` after the package layout (it did before)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--days", "-1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 2
    want = "twin: error: argument --days: must be > 0, got -1.0 (see `twin demo --help`)"
    assert proc.stderr.strip() == want
