"""A ``--config`` file is judged alike by every command, whatever defaults the command starts from
(round 42, TIDY42). ``twin sql``/``explain``/``whatif``/``archive``/``commands list --archive`` check
the file on the default settings (:func:`flows.cli.config_file.check_file`), ``twin demo`` loads it on
``DEMO_DEFAULTS`` (``clock = "data"``, ``commands.mode = "advise"``), ``twin backtest`` with
``BACKTEST_SETTINGS`` as flags. A rule across settings that involves one where they differ would
let one command take a file another refuses: every setting is tried at its bounds, just past them,
its choices and a wrong choice, on each command's route, and the verdicts (the message) must match."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from flows.app.backtest import BACKTEST_SETTINGS
from flows.app.demo import DEMO_DEFAULTS
from flows.config.pipeline import ConfigError, PipelineConfig, load_config
from flows.config.tree import iter_settings
from twin_models.settings import SPEC_KEY

Load = Callable[[Mapping[str, Any]], Any]
ROUTES: dict[str, Load] = {
    "check_file (sql, explain, whatif, archive, commands list)":
        lambda doc: load_config("c.toml", parsed=doc, env={}),
    "demo": lambda doc: load_config("c.toml", parsed=doc, env={}, base=DEMO_DEFAULTS,
                                    overrides={"archive_dir": "out"}),
    "backtest": lambda doc: load_config("c.toml", parsed=doc, env={}, overrides=BACKTEST_SETTINGS),
}
"""How each command loads a config file (``env={}``: the variables are one more layer, alike)."""


def _nested(name: str, value: Any) -> dict[str, Any]:
    doc: Any = value
    for part in reversed(name.split(".")):
        doc = {part: doc}
    return {"pipeline": doc}


def _tries(spec: Any, default: Any) -> Iterator[Any]:
    """The default, the choices and one wrong, each finite bound and just either side of it."""
    yield list(default) if isinstance(default, tuple) else default
    if spec.choices:
        yield from spec.choices
        yield "no-such-choice"
    if isinstance(default, bool):
        yield not default
    elif isinstance(default, int | float) and spec.range is not None:
        for bound in (spec.range.lo, spec.range.hi):
            if bound is not None and math.isfinite(bound):
                step = 1 if isinstance(default, int) else 1e-6 * max(1.0, abs(bound))
                yield from (type(default)(bound - step), type(default)(bound), type(default)(bound + step))


def _cases() -> Iterator[tuple[str, Any]]:
    for name, f, _, _ in iter_settings(PipelineConfig):
        value: Any = PipelineConfig()
        for part in name.split("."):
            value = getattr(value, part)
        for tried in _tries(f.metadata[SPEC_KEY], value):
            yield name, tried


def _verdict(load: Load, doc: Mapping[str, Any]) -> str:
    try:
        load(doc)
    except ConfigError as exc:
        return str(exc)
    return "ok"


def _differing(routes: Mapping[str, Load]) -> list[str]:
    found = []
    for name, value in _cases():
        doc = _nested(name, value)
        verdicts = {route: _verdict(load, doc) for route, load in routes.items()}
        if len(set(verdicts.values())) > 1:
            found.append(f"{name} = {value!r}: {verdicts}")
    return found


def test_every_command_judges_a_config_file_alike() -> None:
    cases = list(_cases())
    assert len(cases) > 500  # every leaf setting, most of them at several values
    refused = sum(_verdict(ROUTES["demo"], _nested(n, v)) != "ok" for n, v in cases)
    assert refused > 100  # the values just past the bounds are refused: the tries reach the checks
    assert _differing(ROUTES) == []


def test_a_base_a_rule_reads_would_be_found() -> None:
    """The check above can fail: a base with a lower ``alerts.raise_score`` (down to the default
    ``clear_score``; the rule clear_score <= raise_score) refuses a higher ``clear_score`` that the
    default settings take."""
    alerts = PipelineConfig().alerts
    low = PipelineConfig(alerts=replace(alerts, raise_score=alerts.clear_score))
    routes = {"default": ROUTES["check_file (sql, explain, whatif, archive, commands list)"],
              "low": lambda doc: load_config("c.toml", parsed=doc, env={}, base=low)}
    found = _differing(routes)
    assert found and all(line.startswith("alerts.clear_score = ") for line in found)


def test_backtest_runs_with_the_settings_it_checked(tmp_path: Path) -> None:
    """``twin backtest`` given a file with ``clock = "system"`` (a live run's file) runs, and what it
    archived was produced on the event-time clock: the config hash of its rows is that of the
    settings loaded with BACKTEST_SETTINGS, not of the file's own."""
    from flows.config.fingerprint import config_hash

    config = tmp_path / "live.toml"
    config.write_text('clock = "system"\nwindow_s = 600\n')
    csv = tmp_path / "in.csv"
    rows = ["timestamp,asset_id,temperature"] + [f"2026-01-01T{h:02d}:{m:02d}:00Z,a-1,{20 + (h * 60 + m) % 7}"
                                                 for h in range(4) for m in range(0, 60, 5)]
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "backtest", str(csv), "--out", str(out),
                           "--config", str(config), "--no-progress", "--no-report"],
                          capture_output=True, text=True, timeout=300, check=False, env=_env())
    assert proc.returncode == 0, proc.stderr
    import duckdb

    hashes = {h for (h,) in duckdb.sql(
        f"SELECT DISTINCT json_extract_string(lineage, '$.config_hash') FROM "
        f"read_parquet('{out}/archive/twin_state/**/*.parquet')").fetchall()}
    ran = load_config(config, env={}, overrides=BACKTEST_SETTINGS)
    assert ran.clock == "data"
    assert hashes == {config_hash(ran)}
    assert config_hash(ran) != config_hash(load_config(config, env={}))


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
