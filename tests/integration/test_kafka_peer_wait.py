"""A `twin run` process waiting for its cluster's other processes stops on SIGTERM (round 28).

HOSTILE28 found that ``twin run -i 0 -a A,B`` whose peer never starts waited for ever and ignored
SIGTERM and Ctrl-C (the engine connects the processes without running Python on the main thread):
only ``kill -9`` ended it. Now it says what it waits for, and a stop signal ends it with one line,
exit 0, before anything is read or written (:mod:`flows.app.peer_wait`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.bench_fuzz_kafka import write_metadata
from benchmarks.free_ports import free_port
from flows.config.pipeline import KafkaConfig
from tests.flows.test_stop_signals import _sigint_default
from tests.integration.conftest import kill_left
from twin_models.simulator.fleet import FleetConfig

pytestmark = pytest.mark.integration

TWIN = str(Path(sys.executable).parent / "twin")


def _wait_for_line(path: Path, start: str, proc: subprocess.Popen[str], timeout_s: float) -> str | None:
    """The first stderr line starting with ``start`` (None if the process ended or time ran out)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        for line in path.read_text().splitlines():
            if line.startswith(start):
                return line
        time.sleep(0.2)
    return None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_process_waiting_for_its_peers_stops_on_a_signal_with_one_line(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path, signum: signal.Signals) -> None:
    cfg = topic_sets("pw", 2, count=1)[0]
    write_metadata(FleetConfig(n_assets=2, days=1.0, seed=3), tmp_path / "meta.json")
    peer = f"127.0.0.1:{free_port()}"  # never started
    addresses = f"127.0.0.1:{free_port()};{peer}"
    err = tmp_path / "stderr.txt"
    argv = [TWIN, "run", "--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix, "--archive",
            str(tmp_path / "a"), "--metadata", str(tmp_path / "meta.json"), "--recovery-dir",
            str(tmp_path / "rec"), "-i", "0", "-a", addresses]
    with err.open("w") as sink:
        # SIGINT at its default action (a suite run as a background job has it ignored, and so would
        # the child: round 31)
        proc = subprocess.Popen(_sigint_default(argv), stderr=sink, stdout=subprocess.DEVNULL, text=True)
        try:
            waiting = _wait_for_line(err, "twin run: process 0 waiting for", proc, 120)
            proc.send_signal(signum)
            code = proc.wait(timeout=30)  # main: no end (only kill -9 stopped it)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err.read_text()
    assert waiting is not None, text[-3000:]
    assert peer in waiting, waiting  # names the process it waits for
    assert code == 0, text[-3000:]
    lines = [ln for ln in text.splitlines() if ln.startswith("twin run: stopped")]
    assert lines == [f"twin run: stopped by {signum.name} while waiting for the cluster's other processes "
                     f"({peer}) to connect; nothing was read or written"], text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    archive = tmp_path / "a"
    assert not archive.exists() or not list(archive.rglob("*.parquet")), list(archive.rglob("*"))



def _two_running(cfg: KafkaConfig, tmp_path: Path) -> tuple[list[subprocess.Popen[str]], list[str]]:
    """Processes 0 and 1 of a cluster over a simulated fleet, both connected and running (process 0
    archived a file); process 0's stderr in ``stderr0.txt``."""
    meta = tmp_path / "meta.json"
    kafka = ["--brokers", cfg.brokers, "--topic-prefix", cfg.topic_prefix]
    subprocess.run([TWIN, "simulate", *kafka, "--assets", "4", "--days", "2", "--write-metadata", str(meta),
                    "--no-progress"], check=True, capture_output=True, timeout=300)
    addresses = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    procs = [subprocess.Popen([TWIN, "run", *kafka, "--archive", str(tmp_path / f"a{i}"), "--metadata",
                               str(meta), "--recovery-dir", str(tmp_path / f"rec{i}"), "--clock", "data",
                               "--snapshot-interval", "1", "-i", str(i), "-a", ";".join(addresses)],
                              stdout=subprocess.DEVNULL, stderr=(tmp_path / f"stderr{i}.txt").open("w"),
                              text=True)
             for i in range(2)]
    deadline = time.monotonic() + 180
    while not list((tmp_path / "a0").rglob("*.parquet")) and time.monotonic() < deadline:
        if procs[0].poll() is not None or procs[1].poll() is not None:
            break
        time.sleep(0.2)
    return procs, addresses


@pytest.mark.parametrize("stopping", [False, True])
def test_a_peer_that_ends_once_connected_stops_the_others_with_one_line_naming_it(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path, stopping: bool) -> None:
    """Round 29: process 0 ended with ``twin: internal error: PanicException: Send thread panic: Any
    { .. }``, exit 1, when process 1 was killed once the two ran together. ``stopping``: process 0 was
    stopped by SIGTERM first and waits for process 1 to hang up (round 29 left it unverified; round 30:
    the same line, no traceback, no hang)."""
    err = tmp_path / "stderr0.txt"
    procs, addresses = _two_running(topic_sets("pl", 2, count=1)[0], tmp_path)
    try:
        assert list((tmp_path / "a0").rglob("*.parquet")), err.read_text()[-3000:]
        if stopping:
            procs[0].send_signal(signal.SIGTERM)
            time.sleep(1.0)  # within REPEAT_IGNORED_S: process 0 is stopping, waiting for process 1
        procs[1].kill()
        procs[1].wait()
        code = procs[0].wait(timeout=120)
    finally:
        kill_left(procs)
    text = err.read_text()
    assert code == 1, text[-3000:]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[-1] == ("twin run: error: lost the connection to the cluster's other processes "
                         f"({addresses[1]}): one of them ended (its own error, a kill, its machine or the "
                         "network gone); stopped before committing it: restart with the same --recovery-dir "
                         "once every process of the cluster runs again"), text[-3000:]
    assert "internal error" not in text and "Traceback" not in text, text[-3000:]
    check = subprocess.run([TWIN, "archive", "check", "--archive", str(tmp_path / "a0")], capture_output=True,
                           text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout


def test_a_stopped_cluster_process_waiting_for_its_peers_ends_on_a_repeated_signal(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path) -> None:
    """Round 29: process 0 stopped by SIGTERM once the two ran together waited in the engine for
    process 1 to hang up (which never came: it went on), and a repeated SIGTERM 4 s later did not end
    it (the main thread runs no Python there): only ``kill -9`` did. Now the repeat ends it at once
    with the line of a repeated signal, exit 130."""
    from flows.app.stop_signals import REPEAT_IGNORED_S

    err = tmp_path / "stderr0.txt"
    procs, _ = _two_running(topic_sets("pr", 2, count=1)[0], tmp_path)
    try:
        assert list((tmp_path / "a0").rglob("*.parquet")), err.read_text()[-3000:]
        procs[0].send_signal(signal.SIGTERM)
        time.sleep(REPEAT_IGNORED_S + 1.0)
        if procs[0].poll() is None:
            procs[0].send_signal(signal.SIGTERM)
        code = procs[0].wait(timeout=60)  # main: no end (kill -9 only)
    finally:
        kill_left(procs)
    text = err.read_text()
    assert code in (0, 130), text[-3000:]
    last = [ln for ln in text.splitlines() if ln.strip()][-1]
    assert last.startswith("twin: stopped at once" if code == 130 else "twin run: stopped;"), text[-3000:]
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]


def test_a_cluster_process_stopped_alone_says_it_waits_for_its_peers(
        topic_sets: Callable[..., tuple[KafkaConfig, ...]], tmp_path: Path) -> None:
    """Round 30: process 0 stopped by SIGTERM once the two ran together waits in the engine for process 1
    to stop too, and said nothing: it looked hung. Now it says what it waits for and how to end it, and
    a repeat then ends it at once (exit 130)."""
    err = tmp_path / "stderr0.txt"
    procs, addresses = _two_running(topic_sets("ps", 2, count=1)[0], tmp_path)
    try:
        assert list((tmp_path / "a0").rglob("*.parquet")), err.read_text()[-3000:]
        procs[0].send_signal(signal.SIGTERM)
        line = _wait_for_line(err, "twin run: process 0 still stopping", procs[0], 60)  # main: None
        if procs[0].poll() is None:
            procs[0].send_signal(signal.SIGTERM)
        code = procs[0].wait(timeout=60)
    finally:
        kill_left(procs)
    text = err.read_text()
    said = ("twin run: process 0 still stopping after 5 s: it waits for the cluster's other processes "
            f"({addresses[1]}) to stop as well (stop them too), or for a slow flush; a repeated SIGTERM or "
            "Ctrl-C ends it at once (rows not yet written are lost)")
    assert line == said, text[-3000:]
    assert code == 130 and text.count("still stopping") == 1, text[-3000:]
    last = [ln for ln in text.splitlines() if ln.strip()][-1]
    assert last.startswith("twin: stopped at once"), text[-3000:]
