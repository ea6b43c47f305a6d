"""A setting an older version named differently (``twin.novelty_scales``, now ``[twin.novelty]
scales``) is refused in ONE line naming the new key, exit 2, from a TOML file or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config.pipeline import ConfigError, load_config
from tests.flows.test_cli_errors import fails
from twin_models.twin import TwinConfig


def test_old_novelty_key_in_a_config_file_names_the_new_one(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[pipeline.twin]\ndetector = "novelty"\nnovelty_scales = [[8, 8]]\n')
    line = fails("demo", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert line == ("twin: error: config key 'twin.novelty_scales' was renamed: use twin.novelty.scales "
                    "([pipeline.twin.novelty] scales)")


def test_old_novelty_key_in_the_environment_names_the_new_one(tmp_path: Path) -> None:
    line = fails("demo", "--out", str(tmp_path / "o"), env={"TWIN_TWIN__NOVELTY_REFRACTORY": "10"})
    assert line == ("twin: error: TWIN_TWIN__NOVELTY_REFRACTORY was renamed: "
                    "use TWIN_TWIN__NOVELTY__REFRACTORY")


@pytest.mark.parametrize("old", sorted(TwinConfig.RENAMED))
def test_every_renamed_key_points_at_a_setting_that_loads(tmp_path: Path, old: str) -> None:
    new = TwinConfig.RENAMED[old]
    table, leaf = new.split(".")
    default = getattr(getattr(TwinConfig(), table), leaf)
    assert load_config(env={}, overrides={f"twin.{new}": default}) is not None
    with pytest.raises(ConfigError, match=f"use twin.{new}"):
        load_config(env={}, overrides={f"twin.{old}": default})
