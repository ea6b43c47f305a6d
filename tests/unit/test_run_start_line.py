"""`twin run`'s first line on a terminal (round 48, USER48): it said nothing until it was stopped,
so a backlog of minutes looked like a hang; now it says what it reads, where it writes and how it
ends (only on a terminal: logs and scripts keep the lines they had)."""

from __future__ import annotations

import os
import subprocess
import sys

from flows.app.run import RunOptions
from flows.cli.kafka_commands import start_line
from flows.config.pipeline import load_config


def test_the_start_line_names_topics_brokers_outputs_metrics_and_the_way_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(overrides={"kafka": {"brokers": "k1:9092", "topic_prefix": "plant."}})
    opts = RunOptions(archive_dir=tmp_path / "arch", recovery_dir=tmp_path / "rec")
    line = start_line(cfg.kafka, opts, 9108, "127.0.0.1")
    assert line.startswith("twin run: reading plant.twin.telemetry.scalar.v1, "
                           "plant.twin.telemetry.vibration.v1, plant.twin.events.v1 from k1:9092; ")
    assert f"archive {tmp_path / 'arch'}; recovery {tmp_path / 'rec'}; " in line
    assert "metrics http://127.0.0.1:9108/metrics; runs until Ctrl-C or SIGTERM" in line

    cluster = RunOptions(archive_dir=tmp_path, process_id=1, addresses=("a:1", "b:1"), exit_at_end=True)
    line = start_line(cfg.kafka, cluster, 9108, "0.0.0.0")
    assert line.startswith("twin run (process 1 of 2): reading ")
    assert "no --recovery-dir (a restart reads the topics again)" in line
    assert "metrics http://0.0.0.0:9109/metrics" in line  # process i serves on port + i
    assert line.endswith("stops at the end of the topics (--exit-at-end)")
    assert "no metrics endpoint (--metrics-port)" in start_line(cfg.kafka, cluster, None, "127.0.0.1")


def test_an_ipv6_metrics_address_is_bracketed_in_the_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Round 49 (HOSTILE49): ``--metrics-address ::1`` was shown as ``http://::1:9108/metrics``, a URL
    curl and browsers refuse (the port read as part of the address)."""
    cfg = load_config()
    opts = RunOptions(archive_dir=tmp_path / "arch")
    assert "metrics http://[::1]:9108/metrics; " in start_line(cfg.kafka, opts, 9108, "::1")
    assert "metrics http://[::]:9108/metrics; " in start_line(cfg.kafka, opts, 9108, "::")


def _seen_inside_the_filter(stderr: int) -> str:
    code = ("import os\nfrom flows.cli.stderr import engine_panics_hidden, stderr_on_terminal\n"
            "with engine_panics_hidden():\n    said = (stderr_on_terminal(), os.isatty(2))\nprint(*said)")
    return subprocess.run([sys.executable, "-c", code], stderr=stderr, stdout=subprocess.PIPE,
                          text=True, check=True, timeout=60).stdout


def test_a_terminal_is_known_behind_the_engines_stderr_filter() -> None:
    """The filter's pipe stands in for fd 2 while `twin run` runs: the line is still for a terminal."""
    leader, follower = os.openpty()
    try:
        assert _seen_inside_the_filter(follower) == "True False\n"  # fd 2 a pipe, stderr a terminal
    finally:
        os.close(leader)
        os.close(follower)
    assert _seen_inside_the_filter(subprocess.DEVNULL) == "False False\n"


def test_no_descriptor_left_leaves_no_terminal_flag_and_no_descriptor(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Out of descriptors (EMFILE) at the filter's pipe: the error goes up with nothing left behind,
    neither the block's terminal flag (it outlived the block) nor the duplicated stderr."""
    import errno

    import pytest

    from flows.cli import stderr as stderr_mod

    def no_pipe() -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    before = sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(stderr_mod.os, "pipe", no_pipe)
    with pytest.raises(OSError, match="Too many open files"), stderr_mod.engine_panics_hidden():
        pass
    assert stderr_mod._PIPED_FROM_TERMINAL == []
    assert sorted(os.listdir("/proc/self/fd")) == before
