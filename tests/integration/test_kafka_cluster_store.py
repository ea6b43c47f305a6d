"""A cluster's recovery folders (``twin run -i I -a ...``): process 0 keeps the partitions in its own
folder, every other process gives an empty one (its machine's) or process 0's (on its machine)
(round 28, part RECOV28; :func:`flows.dataflow.recovery_store.join_store`). Two processes on a real
broker, each with its own folder, as on two machines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.free_ports import free_ports
from flows.app.produce import publish
from flows.config.pipeline import KafkaConfig
from tests.integration.test_kafka_scaleout import RUN_LINE
from twin_models.simulator.fleet import FleetConfig, simulate_fleet

pytestmark = pytest.mark.integration

FLEET = FleetConfig(n_assets=4, days=1.0, seed=5, frame_interval_s=1800.0, scalar_interval_s=900.0)


def _cluster(cfg: KafkaConfig, tmp: Path, folders: tuple[Path, Path], run: str,
             timeout_s: float = 240) -> list[tuple[int | None, str]]:
    """Both processes to their end (or ``timeout_s``: killed, None); their exit codes and stderr."""
    addresses = ";".join(f"127.0.0.1:{p}" for p in free_ports(2))
    cmd = [sys.executable, "-m", "flows.cli.main", "run", "--brokers", cfg.brokers, "--topic-prefix",
           cfg.topic_prefix, "--metadata", str(tmp / "meta.json"), "--clock", "data", "--exit-at-end",
           "-a", addresses]
    procs = [subprocess.Popen([*cmd, "-i", str(i), "--recovery-dir", str(folders[i]), "--archive",
                               str(tmp / f"archive-{run}-{i}")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    out: list[tuple[int | None, str]] = []
    for proc in reversed(procs):  # process 1 first: when it refuses, process 0 waits for it for ever
        wait_s = 40 if out and out[0][0] else timeout_s
        try:
            code: int | None = None
            err = proc.communicate(timeout=wait_s)[1]
            code = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1]
        out.insert(0, (code, err))
    return out


def _read(results: list[tuple[int | None, str]]) -> int:
    counts = [RUN_LINE.search(err) for _code, err in results]
    assert all(c is not None for c in counts), [err[-2000:] for _c, err in results]
    return sum(int(c[1]) for c in counts if c is not None)


@pytest.fixture
def fleet(topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path) -> tuple[KafkaConfig, int]:
    from flows.cli.kafka_commands import write_fleet_metadata

    cfg = topic_sets("it-cstore", 4, count=1)[0]
    write_fleet_metadata(FLEET, str(tmp_path / "meta.json"))
    return cfg, publish(simulate_fleet(FLEET), cfg).records


def test_a_process_whose_recovery_folder_is_missing_joins_and_the_cluster_resumes(
        fleet: tuple[KafkaConfig, int], tmp_path: Path) -> None:
    """Main: process 1's folder not made yet (a new machine: `--recovery-dir /data/recovery`, as the
    README shows) stopped BOTH processes with `twin: internal error: PanicException: Send thread
    panic`, exit 1. Now it is created (empty): the run reads every record once, the resume none."""
    cfg, published = fleet
    folders = (tmp_path / "node-a" / "recovery", tmp_path / "node-b" / "recovery")
    first = _cluster(cfg, tmp_path, folders, "first")
    assert [code for code, _err in first] == [0, 0], [err[-2000:] for _c, err in first]
    assert _read(first) == published
    assert folders[1].is_dir() and not any(folders[1].iterdir())  # process 0 keeps the partitions
    again = _cluster(cfg, tmp_path, folders, "again")
    assert [code for code, _err in again] == [0, 0] and _read(again) == 0


def test_a_copy_of_the_partitions_in_another_process_s_folder_is_refused_in_one_line(
        fleet: tuple[KafkaConfig, int], tmp_path: Path) -> None:
    """The store restored onto process 1's machine (or a folder of another cluster given to it) while
    process 0 starts on an empty folder. Main: process 0 made new partitions beside the restored ones,
    both sets were used (the partitions split between them), the run read every record again from
    the topics' beginning, its state lost, exit 0, unsaid (and so did the next start). Now process 1
    stops with one line, exit 2, its folder untouched."""
    cfg, published = fleet
    folders = (tmp_path / "node-a" / "recovery", tmp_path / "node-b" / "recovery")
    folders[1].mkdir(parents=True)
    assert _read(_cluster(cfg, tmp_path, folders, "first")) == published
    shutil.copytree(folders[0], folders[1], dirs_exist_ok=True)  # restored onto the wrong machine
    shutil.rmtree(folders[0])
    before = {p.name: p.read_bytes() for p in folders[1].iterdir()}
    results = _cluster(cfg, tmp_path, folders, "copy", timeout_s=120)
    code, err = results[1]
    assert code == 2, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and re.fullmatch(
        rf"twin: error: --recovery-dir {re.escape(str(folders[1]))} of process 1 holds recovery partitions "
        r"\(part-0\.sqlite3, part-1\.sqlite3\) that process 0 has never used on this machine .*", lines[0])
    assert {p.name: p.read_bytes() for p in folders[1].iterdir()} == before
    assert results[0][0] is None  # process 0 waited for it
