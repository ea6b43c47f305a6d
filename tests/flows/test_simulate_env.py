"""`twin simulate` honours TWIN_ASSETS, TWIN_DAYS and TWIN_SEED as `twin demo` does (round 29).

Every other command's flags fall back to their ``TWIN_*`` variable (README "Environment variables");
``twin simulate`` ignored these three, so a fleet exported for the demo was published as the default
one. Not TWIN_SENSOR_FAULTS: set for the demo it would make every ``twin simulate`` ask for
``--write-truth``. No broker: the ground truth is written before connecting (the port is closed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flows.test_cli_errors import NO_BROKER, fails, twin

ENV = {"TWIN_ASSETS": "3", "TWIN_DAYS": "2", "TWIN_SEED": "11"}


def _truth(tmp_path: Path, *flags: str, env: dict[str, str]) -> dict[str, object]:
    out = tmp_path / "truth.json"
    twin("simulate", *NO_BROKER, "--sensor-faults", "0.5", "--write-truth", str(out), *flags, env=env)
    return json.loads(out.read_text())


def test_simulate_takes_its_fleet_from_the_twin_variables(tmp_path: Path) -> None:
    doc = _truth(tmp_path, env=ENV)
    assert (doc["assets"], doc["days"], doc["seed"]) == (3, 2.0, 11)  # main: 8, 1.0, 7


def test_a_flag_wins_over_its_variable_and_the_default_stays(tmp_path: Path) -> None:
    doc = _truth(tmp_path, "--assets", "4", "--seed", "5", env=ENV)
    assert (doc["assets"], doc["days"], doc["seed"]) == (4, 2.0, 5)
    assert (lambda d: (d["assets"], d["days"], d["seed"]))(_truth(tmp_path, env={})) == (8, 1.0, 7)


@pytest.mark.parametrize("env, needle", [
    ({"TWIN_ASSETS": "abc"}, "TWIN_ASSETS=abc: expected a whole number"),
    ({"TWIN_DAYS": "inf"}, "TWIN_DAYS=inf: expected a finite number"),
    ({"TWIN_SEED": "1.5"}, "TWIN_SEED=1.5: expected a whole number"),
])
def test_a_bad_variable_is_one_line_naming_it(env: dict[str, str], needle: str) -> None:
    assert needle in fails("simulate", *NO_BROKER, env=env)


def test_sensor_faults_of_the_demo_do_not_reach_simulate(tmp_path: Path) -> None:
    out = tmp_path / "meta.json"
    rc, _, err = twin("simulate", *NO_BROKER, "--write-metadata", str(out), env={"TWIN_SENSOR_FAULTS": "0.5"})
    assert out.exists() and "--write-truth" not in err, (rc, err)
