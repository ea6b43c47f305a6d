"""`twin run` into an archive holding another run's rows warns once at start; a resume of the same run
(its ``--recovery-dir``) does not (round 31, part LOOSE31). Before, nothing was said: the views'
newest-write-per-key rule mixed the runs silently (README's quickstart once replaced 1,876 rows of
the demo's archive that way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.resume_repartition import publish
from flows.config.pipeline import KafkaConfig
from tests.flows.archive_fixtures import small_archive
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")
FLEET = FleetConfig(n_assets=2, days=1.0, seed=5, frame_interval_s=3600.0, scalar_interval_s=1800.0)
OTHER = "20260101T000000-aaaaaaaa"


def _run(cfg: KafkaConfig, tmp_path: Path, *more: str) -> str:
    argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--clock", "data",
            "--exit-at-end", "--connect-timeout", "10", *more]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_twin_run_warns_about_another_run_s_rows_not_on_its_own_resume(topic_sets: Any,
                                                                      tmp_path: Path) -> None:
    from flows.cli.kafka_commands import write_fleet_metadata

    cfg: KafkaConfig = topic_sets("mix", 1, count=1)[0]
    write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    records = list(simulate_fleet(FLEET))
    publish(cfg, records, sorted({r.asset_id for r in records}), 1)
    archive = small_archive(tmp_path / "a", run_id=OTHER)  # another run's rows: 2 assets, 1 date
    rec = ("--recovery-dir", str(tmp_path / "rec"))
    err = _run(cfg, tmp_path, *rec)
    mixed = [line for line in err.splitlines() if "results will be mixed" in line]
    assert mixed == [f"twin: warning: the archive {archive} holds data of 1 earlier run ({OTHER}) for 2 "
                     "assets over 1 date (2026-01-01); results will be mixed (the views keep the newest "
                     "write of each asset and window, whichever run wrote it): give each run its own "
                     "--archive (archive_dir) to keep runs apart"]
    assert "results will be mixed" not in _run(cfg, tmp_path, *rec)  # the same run, resumed
    again = _run(cfg, tmp_path)  # a new run (no store): the first run's rows are another run's now
    assert again.count("results will be mixed") == 1 and "holds data of 2 earlier runs" in again
