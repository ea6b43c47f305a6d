"""The integration tests' stop helper (``tests.integration.conftest.stopped``): a run that ignores
the signal fails the test and is not left running into the tests after it (round 45)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import stopped

IGNORES_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('up', flush=True); time.sleep(60)")


def test_a_run_that_ignores_the_signal_fails_the_test_and_is_reaped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_TERM], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"  # the handler is in place
    with pytest.raises(AssertionError, match="did not stop within 1 s of signal 15: killed"):
        stopped(proc, signal.SIGTERM, timeout_s=1.0)
    assert proc.returncode == -signal.SIGKILL  # reaped, not running


def test_a_run_that_stops_gives_its_exit_status() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stopped(proc, signal.SIGTERM, timeout_s=30.0) == -signal.SIGTERM
