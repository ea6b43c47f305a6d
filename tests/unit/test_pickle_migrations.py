"""Recovery snapshots pickled by older versions load into the renamed and nested classes.

The pre-layout recovery store (tests/fixtures/recovery_pre_layout, written at 0edca79) pickles
TwinConfig with flat ``novelty_*`` fields, the fleet-RUL config as ``twin_models.fleet.FleetConfig``
and FleetTwin with ``min_lives``; tests/flows/test_recovery_upgrade.py resumes it end to end.
"""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

from twin_models.anomaly.selection import NoveltyConfig
from twin_models.rul.fleet import FleetConfig, FleetRulConfig, FleetTwin
from twin_models.twin import AssetTwin, TwinConfig

FIXTURE = Path(__file__).parents[1] / "fixtures" / "recovery_pre_layout" / "part-0.sqlite3"


def _states() -> list[object]:
    with sqlite3.connect(FIXTURE) as db:
        rows = db.execute("SELECT ser_change FROM snaps WHERE ser_change IS NOT NULL").fetchall()
    return [pickle.loads(r[0]) for r in rows]


def test_old_snapshots_load_with_the_new_names() -> None:
    states = _states()
    blob = b"".join(pickle.dumps(s) for s in states)
    assert b"novelty_scales" not in blob and b"FleetConfig" not in blob
    twins = [s for s in states if isinstance(s, AssetTwin)]
    assert twins and all(t.config.novelty == NoveltyConfig() for t in twins)
    assert all(type(t.config.fleet) is FleetRulConfig and t.config.fleet.regressor == "trees" for t in twins)
    fleets = [s for s in states if isinstance(s, FleetTwin)]
    assert fleets and all(f.similarity_min_lives == 1 and "min_lives" not in vars(f) for f in fleets)


def test_a_flat_twin_config_state_migrates_to_the_nested_table() -> None:
    state = {k: v for k, v in vars(TwinConfig()).items() if k != "novelty"}
    state.update(novelty_features=(".max",), novelty_scales=((4, 4),), novelty_history=100,
                 novelty_value_history=200, novelty_refractory=7)
    cfg = TwinConfig.__new__(TwinConfig)
    cfg.__setstate__(state)
    assert cfg.novelty == NoveltyConfig((".max",), ((4, 4),), 100, 200, 7)
    assert cfg == TwinConfig(novelty=NoveltyConfig((".max",), ((4, 4),), 100, 200, 7))


def test_the_old_fleet_config_name_is_an_alias_for_unpickling() -> None:
    assert FleetConfig is FleetRulConfig
