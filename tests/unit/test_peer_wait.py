"""flows.app.peer_wait: the watcher acts only while the engine connects a cluster (round 28).

The stop of a process still waiting for its peers is tested on a real broker
(tests/integration/test_kafka_peer_wait.py); here, that once the engine has listed the Kafka source's
partitions a stop signal is left to the engine (Python's handler), and that a one-process run
installs nothing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time
    from flows.app.peer_wait import PeerWait
    from flows.app.stop_signals import stop_once
    from flows.dataflow.sources.kafka_offsets import PARTS_LISTED
    stop_once()
    read, write = os.pipe()
    with PeerWait(sys.argv[1].split(";"), 0):
        print("wakeup", signal.set_wakeup_fd(-1) != -1, flush=True)  # read and put back below
    with PeerWait(sys.argv[1].split(";"), 0) as wait:
        if sys.argv[2] == "started":
            PARTS_LISTED.set()
        try:  # "ready" inside: the test's signal may come as soon as it is printed
            print("ready", flush=True)
            os.read(read, 1)  # blocks until the signal's handler raises
        except KeyboardInterrupt:
            time.sleep(0.5)  # the watcher, had it acted, would have ended the process by now
            print("stopped by the handler", flush=True)
    """)


def _run(addresses: str, phase: str) -> tuple[int, str, str]:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, addresses, phase], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    ready = proc.stdout.readline()
    assert ready == "ready\n", (first, ready, proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, first + ready + out, err


def test_once_the_engine_listed_its_partitions_a_signal_is_left_to_the_engine() -> None:
    code, out, err = _run("127.0.0.1:1;127.0.0.1:2", "started")
    assert out.splitlines() == ["wakeup True", "ready", "stopped by the handler"], (out, err)
    assert code == 0 and "waiting for the cluster" not in err, (code, err)


def test_a_one_process_run_sets_no_wakeup_pipe() -> None:
    first_block = SCRIPT.split('with PeerWait(sys.argv[1].split(";"), 0) as')[0]
    proc = subprocess.run([sys.executable, "-c", first_block, "127.0.0.1:1", "started"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.stdout.splitlines() == ["wakeup False"], (proc.stdout, proc.stderr)


RACE = textwrap.dedent("""
    import os, signal, sys, time
    from flows.app.peer_wait import PeerWait
    from flows.dataflow.sources.kafka_offsets import LISTING, PARTS_LISTED
    signal.signal(signal.SIGTERM, lambda *_: None)  # the engine's own stop, which raises nothing here
    with PeerWait(["127.0.0.1:1", "127.0.0.1:2"], 0):
        with LISTING:  # the source is marking its partitions listed as the signal comes
            print("ready", flush=True)
            time.sleep(1.0)  # the test's SIGTERM: the watcher reads it and waits for the mark
            PARTS_LISTED.set()
        time.sleep(1.0)  # had the watcher ended the process, it would be gone by now
        print("the engine runs on", flush=True)
    """)


def test_a_signal_as_the_partitions_are_listed_is_left_to_the_engine() -> None:
    """Round 29: the watcher read a signal, saw the partitions not listed yet and ended the process
    with "nothing was read or written" while the engine had just begun; now it decides holding the
    lock the source marks the listing with, and leaves a signal to the engine once listed."""
    proc = subprocess.Popen([sys.executable, "-c", RACE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert out.splitlines() == ["the engine runs on"], (out, err)
    assert proc.returncode == 0 and "nothing was read or written" not in err, (proc.returncode, err)
