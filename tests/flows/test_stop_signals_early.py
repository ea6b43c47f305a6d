"""A stop signal while ``twin`` is still starting (round 32, LOOSE32).

The SIGINT/SIGTERM handler was installed by ``flows.cli.main.main``, once ``flows.cli.main`` and
what it imports were loaded (~0.2-0.3 s on the dev VM): a SIGTERM then killed the process with no
word (exit -15) and a Ctrl-C printed Python's traceback (exit -2). The console script's entry
(:mod:`flows.cli.entry`) installs it before anything else of twinflow is imported: a stop while
the command's modules are loading is the usual one line, ``twin: interrupted``, exit 130.

The signal is sent once the child is seen loading numpy (its core library mapped), which it does
half-way through the command's imports, well before ``main`` is called."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.test_cli_errors import TWIN
from tests.flows.test_stop_signals import _sigint_default

LOADING = "_multiarray_umath"  # numpy's core library: the child is importing the command's modules


def _loading(pid: int) -> bool:
    try:
        return LOADING in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # gone, or not yet readable
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize(("start", "argv", "signum"), [
    ([TWIN], ["demo", "--assets", "2", "--days", "1", "--no-progress"], signal.SIGTERM),
    ([TWIN], ["demo", "--assets", "2", "--days", "1", "--no-progress"], signal.SIGINT),
    ([TWIN], ["demo", "--assets", "2", "--days", "1", "--no-progress"], signal.SIGHUP),
    ([sys.executable, "-m", "flows.cli"], ["backtest", "--help"], signal.SIGTERM),
    ([sys.executable, "-m", "flows.cli"], ["run", "--exit-at-end"], signal.SIGINT),
], ids=["twin-demo-SIGTERM", "twin-demo-SIGINT", "twin-demo-SIGHUP", "m-backtest-SIGTERM", "m-run-SIGINT"])
def test_a_stop_while_the_command_is_loading_is_one_line_and_130(
        tmp_path: Path, start: list[str], argv: list[str], signum: int) -> None:
    proc = subprocess.Popen(_sigint_default([*start, *argv]), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and not _loading(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.0005)
        assert proc.poll() is None, "the command ended before it was seen loading its modules"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (130, "twin: interrupted\n")
    assert not list(tmp_path.iterdir())  # stopped before the command began: nothing written


def test_before_the_handler_only_what_it_needs_is_imported() -> None:
    """Round 36: until :mod:`flows.cli.entry` installs the handler, a SIGTERM ends ``twin`` silently
    (exit -15). What it imported first (``flows``' and ``twin_models``' package files) loaded
    ``importlib.abc`` (the old module paths' finder; it loads ``importlib.resources``, ``tempfile``,
    ``random``, ``shutil``...) and ``typing``: ~10-50 ms of that window, for annotations and base
    classes. The stop signals' handler needs ``signal`` and ``threading`` only."""
    code = ("import sys; before = set(sys.modules)\n"
            "import flows.cli.entry, flows.app.stop_signals\n"
            "print(' '.join(sorted(set(sys.modules) - before)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    loaded = set(proc.stdout.split())
    assert {"flows.cli.entry", "flows.app.stop_signals"} <= loaded, loaded
    heavy = {"typing", "importlib.abc", "importlib.resources", "tempfile", "random", "shutil"}
    assert not loaded & heavy, sorted(loaded & heavy)  # base: all six


def test_an_old_module_path_still_imports_as_the_new_module() -> None:
    """The finder of old paths (recovery snapshots pickled before a move) without importlib.abc's
    base classes: the old path is the very module of the new path, in a fresh interpreter."""
    code = ("import pickle\n"
            "import twin_models.simulate as old\n"
            "import twin_models.simulator.fleet as new\n"
            "data = pickle.dumps(new.FleetConfig(), protocol=0)\n"
            "data = data.replace(b'twin_models.simulator.fleet\\n', b'twin_models.simulate\\n')\n"
            "print(old is new, b'twin_models.simulate\\n' in data,\n"
            "      pickle.loads(data) == new.FleetConfig())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert proc.stdout.split() == ["True", "True", "True"], proc
