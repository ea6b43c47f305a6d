"""A demo or backtest stopped by Ctrl-C or SIGTERM with its progress bar on: the "interrupted" line is
the last thing it prints, and the bar is not drawn again (round 36, SIGNAL35 noticed).

``twin demo``'s bar stayed open on a stop: tqdm closed it at the interpreter's exit and drew it once
more after ``twin: interrupted; ...``. ``twin backtest``'s was closed first, but drawn again on a new
line (the stderr filter ends the bar's line when it drops the engine's panic text): two bars."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.flows.test_cli_errors import TWIN
from tests.flows.test_stop_signals import _sigint_default


def _csv(path: Path, rows: int) -> Path:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["timestamp,value"]
    lines += [f"{(t0 + timedelta(seconds=10 * i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{(i * 7919) % 101 / 50:.2f}"
              for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("command", "signame"), [("demo", "SIGTERM"), ("demo", "SIGINT"),
                                                   ("backtest", "SIGTERM")])
def test_a_stopped_run_s_last_line_is_the_interrupted_one_and_its_bar_is_drawn_on_one_line(
        tmp_path: Path, command: str, signame: str) -> None:
    out = tmp_path / "o"
    if command == "demo":
        argv = [TWIN, "demo", "--assets", "2", "--days", "60", "--out", str(out)]
        archive = out
    else:
        argv = [TWIN, "backtest", str(_csv(tmp_path / "in.csv", 400_000)), "--out", str(out), "--no-report"]
        archive = out / "archive"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env["TWIN_ARCHIVE_BATCH_ROWS"] = "100"  # files from its first seconds: signalled mid-run
    proc = subprocess.Popen(_sigint_default(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not list(archive.glob("twin_state/**/*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(getattr(signal, signame))
    _, raw = proc.communicate(timeout=60)
    err = raw.decode()
    assert proc.returncode == 130, err[-2000:]
    lines = err.split("\n")
    assert lines[-1] == "", repr(err[-500:])  # ends with a complete line ...
    last = lines[-2].split("\r")[-1]  # ... what shows of it on a terminal (after the last return)
    assert last.startswith("twin: interrupted; --out "), repr(err[-500:])  # base demo: the bar again
    bars = [ln for ln in lines if "rec/s]" in ln.split("\r")[-1]]
    assert len(bars) == 1, repr(err[-500:])  # the bar's line, ended by the filter (base backtest: 2)
