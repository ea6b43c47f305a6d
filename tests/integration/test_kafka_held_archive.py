"""``twin run --archive`` held while the run writes (round 42, part HOLD42).

A run lives for days; its archive was written by name: the folder renamed away and a link to another
folder put at its name mid-run (after the checks, when the sinks are built) had every later part
written into that other folder. Now the archive is held open (``held_folder``) from its checks to the
run's end and written through ``/proc/self/fd``; a folder renamed on purpose keeps getting the run's
parts (the folder it started with) until a restart, and a folder removed mid-run stops the run at its
next flush with one line saying so (a restart makes it again)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.resume_repartition import publish
from flows.config.pipeline import KafkaConfig
from tests.flows.archive_fixtures import small_archive
from tests.flows.test_hostile_held_out import _files
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=2, days=1.0, seed=5, frame_interval_s=3600.0, scalar_interval_s=1800.0)

SWAPPING = """
import os, shutil, sys
from pathlib import Path
import flows.app.run as r
archive, how = Path(sys.argv[1]), sys.argv[2]
real = r.kafka_outputs
def swapping(*args, **kwargs):  # the sinks built: the archive checked and held (after the mend)
    if how == "remove":
        shutil.rmtree(archive)
    else:
        os.rename(archive, f"{archive}.moved")
        archive.symlink_to(how)
    return real(*args, **kwargs)
r.kafka_outputs = swapping
from flows.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def _run(cfg: KafkaConfig, tmp_path: Path, how: str, script: str = SWAPPING,
         swapped: str = "a") -> subprocess.CompletedProcess[str]:
    """``twin run`` on ``cfg`` under ``script`` (``tmp_path / swapped`` and ``how`` its first arguments)."""
    argv = [sys.executable, "-c", script, str(tmp_path / swapped), how, "run", "--brokers", cfg.brokers,
            "--topic-prefix", cfg.topic_prefix, "--archive", str(tmp_path / "a"), "--metadata",
            str(tmp_path / "meta.json"), "--clock", "data", "--exit-at-end", "--connect-timeout", "10",
            "--recovery-dir", str(tmp_path / "rec")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def published(topic_sets: Any, tmp_path: Path) -> KafkaConfig:
    from flows.cli.kafka_commands import write_fleet_metadata

    cfg: KafkaConfig = topic_sets("held", 1, count=1)[0]
    write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    records = list(simulate_fleet(FLEET))
    publish(cfg, records, sorted({r.asset_id for r in records}), 1)
    (tmp_path / "a").mkdir()
    return cfg


def test_the_archive_swapped_for_a_link_mid_run_gets_nothing_written_there(published: KafkaConfig,
                                                                          tmp_path: Path) -> None:
    """On e838b3a: every part of the run (features, twin_state, alerts ...) in the link's folder."""
    victim = small_archive(tmp_path / "victim", run_id="20260101T000000-bbbbbbbb")
    before = _files(victim)
    done = _run(published, tmp_path, str(victim))
    assert done.returncode == 0, done.stderr[-3000:]
    assert _files(victim) == before  # byte-identical: nothing written, replaced nor deleted there
    moved = _files(tmp_path / "a.moved")
    assert {n.split("/")[0] for n in moved} >= {"features", "twin_state"}  # the folder it started with
    assert "/proc/self" not in done.stderr


def test_the_archive_removed_mid_run_stops_it_with_one_line_naming_it(published: KafkaConfig,
                                                                     tmp_path: Path) -> None:
    """On e838b3a the run made the folder again at its name, its first parts lost without a word (rc 0);
    held, it cannot write in the removed folder: one line naming the folder and what to do, exit 1."""
    done = _run(published, tmp_path, "remove")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-3000:]
    archive = tmp_path / "a"
    assert lines[-1].startswith(f"twin run: error: the archive folder {archive} was removed while the run "
                                "wrote in it"), lines[-1]
    assert "restart with the same --recovery-dir to make it again and resume" in lines[-1]
    assert "/proc/self" not in done.stderr
