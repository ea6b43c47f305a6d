"""``twin run --recovery-dir`` held like ``--archive`` (round 43b, part TIDY43b).

Bytewax opens each recovery partition (a SQLite file) once, when the dataflow starts, and keeps it open
to the end (measured with 0.21: the files stay open, and a folder renamed mid-run keeps getting the
snapshots). But the folder was given to it, and to the store's checks and repairs before it, by name: a
link put at the name between the checks and the engine's start (the broker's checks take seconds) had
the run open another folder's partitions and write its snapshots there; and a folder removed mid-run
went unnoticed (the snapshots written into deleted files, exit 0), the next start beginning again
without a word. Now the folder is held from the start (``/proc/self/fd``, given to Bytewax too), and a
removal stops the run with one line naming it, exit 1."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flows.config.pipeline import KafkaConfig
from tests.flows.test_hostile_held_out import _files
from tests.integration.test_kafka_held_archive import _run as _run_script
from tests.integration.test_kafka_held_archive import published  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

SWAPPING = """
import os, shutil, sys, threading, time
from pathlib import Path
import flows.app.held_watch as hw
import flows.app.run as r
rec, how = Path(sys.argv[1]), sys.argv[2]
hw.WATCH_EVERY_S = 0.2
real = r.kafka_outputs
def remove_once_open():  # the engine has opened its partitions (their -wal files): mid-run
    while not any(rec.glob("*.sqlite3-wal")):
        time.sleep(0.01)
    shutil.rmtree(rec)
def swapping(*args, **kwargs):  # the store checked, prepared and locked; the engine not started
    if how == "remove":
        threading.Thread(target=remove_once_open, daemon=True).start()
    else:
        os.rename(rec, f"{rec}.moved")
        rec.symlink_to(how)
    return real(*args, **kwargs)
r.kafka_outputs = swapping
from flows.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def _run(cfg: KafkaConfig, tmp_path: Path, how: str) -> subprocess.CompletedProcess[str]:
    return _run_script(cfg, tmp_path, how, SWAPPING, "rec")


def test_the_recovery_folder_swapped_for_a_link_before_the_engine_starts_gets_nothing_there(
        published: KafkaConfig, tmp_path: Path) -> None:  # noqa: F811
    """On 23a70f6 the engine opened the link's folder (another store's partitions) and wrote there."""
    from bytewax.recovery import init_db_dir

    victim = tmp_path / "victim"
    victim.mkdir()
    init_db_dir(victim, 1)
    before = _files(victim)
    done = _run(published, tmp_path, str(victim))
    assert done.returncode == 0, done.stderr[-3000:]
    assert _files(victim) == before  # byte-identical: not opened, written nor repaired
    assert (tmp_path / "rec.moved" / "part-0.sqlite3").stat().st_size > 0  # the folder it started with
    assert "/proc/self" not in done.stderr


def test_the_recovery_folder_removed_mid_run_stops_it_with_one_line_naming_it(
        published: KafkaConfig, tmp_path: Path) -> None:  # noqa: F811
    """On 23a70f6 the run went on snapshotting into deleted files, exit 0, and said nothing: the next
    start with the same --recovery-dir began again from the topics' beginning."""
    done = _run(published, tmp_path, "remove")
    assert done.returncode == 1, done.stderr[-3000:]
    rec = tmp_path / "rec"
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"twin run: error: the recovery folder {rec} (--recovery-dir) was removed while "
                           "the run kept its snapshots there"), line
    assert "/proc/self" not in done.stderr
    assert not rec.exists()  # not made again at its name
