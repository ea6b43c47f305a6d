"""SIGHUP stops a command as SIGTERM does (round 35, from HOSTILE34's "left").

A data engineer's ``twin run`` / ``demo`` / ``backtest`` in a terminal or an ssh session that drops
gets SIGHUP: it killed the process (exit -1, the archive writer's last rows lost). Now the stop is
SIGTERM's: the engine unwinds, the archive keeps complete files only, exit 130 (``twin run`` 0), one
line on stderr while stderr works and silence when the terminal is gone (its writes fail with EIO:
they raised OSError from the stop's own line, exit 1). ``nohup`` (SIGHUP ignored) keeps it ignored.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from flows.cli.stderr import STDERR_LOST, QuietStderr, _pump, lost_reset, lost_status
from tests.flows.test_cli_errors import TWIN, one_error_line
from tests.flows.test_stop_signals import _sigint_default


def _demo(out: Path, stdout: int, stderr: int, *flags: str) -> subprocess.Popen:
    """A 60-day demo whose archive gets files from its first seconds on (small flushes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env["TWIN_ARCHIVE_BATCH_ROWS"] = "100"
    argv = [TWIN, "demo", "--assets", "2", "--days", "60", "--out", str(out), *flags]
    return subprocess.Popen(_sigint_default(argv), env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr)


def _under_way(proc: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 90
    while not list(out.glob("twin_state/**/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.1)  # under way: its first twin states are archived
    assert proc.poll() is None, "the demo ended before it could be stopped"


def _archive_complete(out: Path) -> None:
    check = subprocess.run([TWIN, "archive", "check", "--archive", str(out)], capture_output=True, text=True,
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(out.glob("**/*.tmp*"))


@pytest.mark.parametrize("repeats", [1, 2], ids=["once", "twice"])
def test_sighup_stops_the_demo_as_sigterm_does(tmp_path: Path, repeats: int) -> None:
    out = tmp_path / "o"
    proc = _demo(out, subprocess.DEVNULL, subprocess.PIPE, "--no-progress")
    _under_way(proc, out)
    for _ in range(repeats):  # a terminal's hangup may come twice (the shell's, then the kernel's)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    line = one_error_line(err.decode().replace("twin: interrupted", "twin: error: interrupted"))
    assert line.startswith(f"twin: error: interrupted; --out {out} keeps its archive ("), line
    _archive_complete(out)


def test_sighup_from_a_terminal_that_is_gone_stops_quietly(tmp_path: Path) -> None:
    """stdout and stderr on a terminal that hung up (a pseudo-terminal whose other side closed: its
    writes fail with EIO, as an ssh session's after it dropped): exit 130, the archive complete."""
    out = tmp_path / "o"
    master, slave = os.openpty()
    try:
        proc = _demo(out, slave, slave)  # the progress bar drawn, on the terminal
    finally:
        os.close(slave)
    try:
        _under_way(proc, out)
        while select.select([master], [], [], 0)[0]:  # what was drawn so far: read, then the hangup
            os.read(master, 65536)
    finally:
        os.close(master)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=60) == 130
    _archive_complete(out)


def test_the_stderr_filter_reads_on_when_the_real_stderr_is_gone() -> None:
    """Its thread died of the first failed write, and the pipe (descriptor 2 while a command runs),
    no longer read, blocked every write once full: a stopped command hung on its next lines."""
    gone_r, gone_w = os.pipe()
    os.close(gone_r)  # the real stderr: writes fail (EPIPE; Python ignores SIGPIPE)
    read_fd, write_fd = os.pipe()
    pump = threading.Thread(target=_pump, args=(read_fd, gone_w), daemon=True)
    pump.start()
    try:
        os.set_blocking(write_fd, False)
        data = memoryview(b"a line the terminal will never show\n" * 10_000)  # ~360 KB: > a pipe's buffer
        while data:
            if not select.select([], [write_fd], [], 10)[1]:
                break  # not read any more
            data = data[os.write(write_fd, data):]
        assert not data, f"{len(data)} bytes left unread"
    finally:
        os.close(write_fd)
        pump.join(timeout=10)
        os.close(gone_w)
    assert not pump.is_alive()


def test_writes_to_a_stderr_that_is_gone_are_dropped() -> None:
    gone_r, gone_w = os.pipe()
    os.close(gone_r)
    with open(gone_w, "w", encoding="utf-8") as real:
        quiet = QuietStderr(real)
        assert quiet.write("twin: interrupted\n") == len("twin: interrupted\n")
        quiet.flush()  # EPIPE here: dropped
        assert quiet.gone
        print("more", file=quiet, flush=True)
        real.write("")  # nothing buffered left to fail at close


def test_a_stderr_write_error_other_than_a_gone_reader_is_dropped_but_noted() -> None:
    # the lead, round 35: only EIO (hung-up terminal) and EPIPE (reader gone) are silence; a full disk
    # under `2> file` (here /dev/full: ENOSPC) is not hidden. Round 37 (DURABLE37): raising it stopped
    # the command on its first warning (TWIN_DEBUG=1; the pump dropped it silently otherwise); it is
    # now dropped and noted, and a command that succeeded exits 74 (flows.cli.stderr.lost_status)
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    lost_reset()
    with open("/dev/full", "w", encoding="utf-8") as full:
        quiet = QuietStderr(full)
        quiet.write("twin: warning: results will be mixed\n")
        quiet.flush()
        assert quiet.gone
        assert (lost_status(0), lost_status(2)) == (STDERR_LOST, 2)
        with contextlib.suppress(OSError):  # its buffer is still full: closing flushes again
            full.close()
    lost_reset()
    assert lost_status(0) == 0
