"""Ctrl-C pressed twice (round 14's hostile pass): the second press aborted the stop under way.

The first SIGINT stops the dataflow; a second one ~0.2 s later landed in a sink's close called from the
engine's destructors, and Rust aborted the process ("panic in a destructor during cleanup"): exit -6
(SIGABRT), nothing said, the rows handed to the archive writer not flushed. Now a repeat within
REPEAT_IGNORED_S is ignored; a later one ends the process at once with one line, exit 130. A repeat
while the interpreter shut down afterwards killed it by SIGINT (exit -2): then both are ignored.

The children these tests signal start with SIGINT at its default action (:func:`_sigint_default`):
run as a background job of a script, the suite has SIGINT ignored, and so would they, which is what
such a job is for (round 22: the shell asks it to ignore the terminal's Ctrl-C; ``twin`` keeps it
ignored, as Python does, and SIGTERM still stops it once: the last test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.app.stop_signals import REPEAT_IGNORED_S, StopOnce, restore, stop_once, stopped_by
from tests.flows.test_cli_errors import TWIN, one_error_line

_EXEC_WITH_SIGINT_DEFAULT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                             "signal.signal(signal.SIGHUP, signal.SIG_DFL); "
                             "os.execv(sys.argv[1], sys.argv[1:])")


def _sigint_default(argv: list[str]) -> list[str]:
    """``argv`` started with SIGINT and SIGHUP at their default actions whatever this process
    inherited (an exec keeps an ignored signal ignored, and resets a handled one to its default):
    a suite run under ``nohup`` has SIGHUP ignored, and ``twin`` keeps it so (round 35)."""
    return [sys.executable, "-c", _EXEC_WITH_SIGINT_DEFAULT, *argv]


@contextmanager
def sigint_interrupts() -> Iterator[None]:
    """In this process, within the block: SIGINT raises KeyboardInterrupt (its default handler),
    whatever the process inherited: a suite run as a background job has it ignored, which ``main``'s
    StopOnce keeps (a test signalling itself then saw its command go on). The in-process
    counterpart of :func:`_sigint_default` (round 32: two tests spelt it each)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_first_signal_interrupts_a_quick_repeat_is_ignored() -> None:
    handler = StopOnce()
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)
    assert handler(signal.SIGTERM, None) is None and handler(signal.SIGINT, None) is None
    assert REPEAT_IGNORED_S >= 1.0  # a double press is within it


def test_an_ignored_sigint_stays_ignored_and_handlers_are_put_back() -> None:
    """A background job of a script starts with SIGINT ignored: the terminal's Ctrl-C is not for it."""
    before_int, before_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        replaced = stop_once()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert isinstance(signal.getsignal(signal.SIGTERM), StopOnce)
        restore(replaced, exiting=False)
        assert signal.getsignal(signal.SIGTERM) is before_term
    finally:
        signal.signal(signal.SIGINT, before_int)


def test_a_repeat_after_the_window_ends_at_once_with_one_line() -> None:
    code = ("import os, signal, time\n"
            "import flows.app.stop_signals as s\n"
            "s.REPEAT_IGNORED_S = 0.0\n"
            "s.stop_once()\n"
            "try:\n    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
            "except KeyboardInterrupt:\n    pass\n"
            "os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
            "print('not reached')\n")
    proc = subprocess.run(_sigint_default([sys.executable, "-c", code]), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 130 and proc.stdout == "", proc
    assert proc.stderr.startswith("twin: stopped at once (signalled again while stopping)"), proc.stderr


def test_ctrl_c_twice_stops_the_demo_once_and_keeps_what_it_said(tmp_path: Path) -> None:
    out = tmp_path / "o"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    # small flushes: files from the run's 2nd second on (its one flush came in its last ~0.5 s, a
    # window a loaded machine can miss: the demo ended before it was signalled), round 31
    env["TWIN_ARCHIVE_BATCH_ROWS"] = "100"
    argv = [TWIN, "demo", "--assets", "2", "--days", "60", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(_sigint_default(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 90
    while not list(out.glob("twin_state/**/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.2)  # under way: its first twin states are archived
    assert proc.poll() is None, "the demo ended before it could be stopped"
    proc.send_signal(signal.SIGINT)
    for pause in (0.2, 0.5):  # the engine unwinding, its sinks closing; then the interpreter exiting
        time.sleep(pause)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    line = one_error_line(err.replace("twin: interrupted", "twin: error: interrupted"))
    assert line.startswith(f"twin: error: interrupted; --out {out} keeps its archive ("), line
    check = subprocess.run([TWIN, "archive", "check", "--archive", str(out)], env=env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout
    assert not list(out.glob("**/*.tmp*"))


@pytest.mark.parametrize("name", ["SIGINT", "SIGHUP"])
def test_started_with_sigint_ignored_it_ignores_it_and_sigterm_stops_it_once(name: str) -> None:
    """A background job of a script (``twin run ... &``): the shell starts it with SIGINT ignored,
    so that the terminal's Ctrl-C is not for it. It stays ignored (as Python leaves it: no
    KeyboardInterrupt); SIGTERM (``kill PID``) stops it like Ctrl-C would have. Round 35: the same
    for SIGHUP under ``nohup`` (SIGHUP now stops a command, as SIGTERM does, unless so ignored)."""
    code = ("import os, signal, sys, time\n"
            "import flows.app.stop_signals as s\n"
            f"signal.signal(signal.{name}, signal.SIG_IGN)\n"
            "s.stop_once()\n"
            f"os.kill(os.getpid(), signal.{name})\n"
            f"print('{name} ignored', flush=True)\n"
            "try:\n    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "except KeyboardInterrupt:\n    sys.exit(130)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 130 and proc.stdout == f"{name} ignored\n" and proc.stderr == "", proc


def test_the_signal_that_stopped_a_command_is_named() -> None:
    """Round 26: `twin run`'s end summary says which signal stopped it (a service manager's SIGTERM)."""
    before = stop_once()
    try:
        assert stopped_by() == "a signal"
        with pytest.raises(KeyboardInterrupt):
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert stopped_by() == "SIGTERM"
    finally:
        restore(before, exiting=False)


def test_the_stopped_at_once_line_passes_the_cli_s_stderr_filter() -> None:
    """Round 29: the repeated signal's line goes through `exit_now`, which ends the process with
    `os._exit`; under the CLI's stderr filter (`engine_panics_hidden`, every command's) the line sat in
    the filter's pipe and was lost unless `exit_now` forwards it first. A progress bar's unfinished
    line was on stderr before it."""
    stderr = _stopped_twice(between="    sys.stderr.write('\\r 42%'); sys.stderr.flush()\n")
    line = ("twin: stopped at once (signalled again while stopping): rows not yet written are lost; the "
            "archive keeps its complete files\n")
    assert stderr == "\r 42%" + line, stderr


def test_the_stopped_at_once_line_starts_on_its_own_line_after_a_progress_bar() -> None:
    """Round 30: the line was written at the end of the open bar's line (``... 3/10 [00:00<?,
    ?rec/s]twin: stopped at once ...``); now it starts a line of its own. A closed bar ended its line
    itself: no blank line then (nor when no bar was drawn: the test above)."""
    stderr = _stopped_twice(before=("    tqdm(total=5, unit='rec', disable=False).close()\n"
                                    "    tqdm(total=5, unit='rec', disable=True)\n"
                                    "    bar = tqdm(total=10, unit='rec', disable=False)\n"
                                    "    bar.update(3); bar.refresh()\n"))
    lines = stderr.split("\n")
    assert lines[-1] == "", lines  # main: the line ran on from the bar's
    assert lines[-2] == ("twin: stopped at once (signalled again while stopping): rows not yet written are "
                         "lost; the archive keeps its complete files"), lines
    assert "0/5" in lines[0] and "3/10" in lines[1] and len(lines) == 4, lines  # the closed bar's line,
    # the open bar's (the disabled one drew nothing), then the stop's: no blank line


def _stopped_twice(before: str = "", between: str = "") -> str:
    """The stderr of a process stopped by SIGINT, then SIGTERM after the window (exit 130, nothing on
    stdout), under the CLI's stderr filter; ``before``/``between``: lines run before the first signal
    and between the two (indented into the filter's block)."""
    code = ("import os, signal, sys, time\n"
            "from tqdm import tqdm\n"
            "import flows.app.stop_signals as s\n"
            "from flows.cli.stderr import engine_panics_hidden\n"
            "s.REPEAT_IGNORED_S = 0.0\n"
            "s.stop_once()\n"
            "with engine_panics_hidden():\n"
            f"{before}"
            "    try:\n        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
            "    except KeyboardInterrupt:\n        pass\n"
            f"{between}"
            "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
            "print('not reached')\n")
    proc = subprocess.run(_sigint_default([sys.executable, "-c", code]), capture_output=True, timeout=60,
                          check=False)
    assert proc.returncode == 130 and proc.stdout == b"", proc
    return proc.stderr.decode()
