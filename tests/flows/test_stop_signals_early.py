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


SWALLOWED = """
import os, signal, sys, weakref
from flows.app.stop_signals import stop_once
stop_once()
class Held: pass
held = Held()
def dropped(_ref):  # as importlib's module-lock callback: Python cannot raise out of it
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000): pass  # the handler runs here
ref = weakref.ref(held, dropped)
try:
    del held
    for _ in range(10 ** 7): pass
    print("ran on")
except KeyboardInterrupt:
    print("stopped")
"""


def test_a_stop_landing_where_python_cannot_raise_still_stops() -> None:
    """Round 41 (HOSTILE41): a Ctrl-C in ``twin``'s first ~30 ms could land in importlib's module-lock
    weakref callback: "Exception ignored in: <function _get_module_lock.<locals>.cb>", its traceback,
    and the command ran on as if never stopped (exit 2 or 0, not 130). The handler's KeyboardInterrupt,
    swallowed so, is delivered again once out of there."""
    proc = subprocess.run([sys.executable, "-c", SWALLOWED], capture_output=True, text=True, timeout=60)
    assert (proc.stdout, proc.stderr) == ("stopped\n", "")


def test_another_unraisable_error_is_still_reported() -> None:
    """The hook that re-delivers a swallowed stop passes every other unraisable error on as before."""
    code = ("import weakref\nfrom flows.app.stop_signals import stop_once\nstop_once()\n"
            "class Held: pass\nheld = Held()\n"
            "def dropped(_ref): raise ValueError('in a callback')\n"
            "ref = weakref.ref(held, dropped)\ndel held\nprint('ran on')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "ran on\n"
    assert "Exception ignored in" in proc.stderr and "ValueError: in a callback" in proc.stderr


NOTED_EARLY = """
import os, signal, sys
sys.argv[0] = os.path.join(os.getcwd(), "twin")  # as the console script
import flows.cli.entry as entry  # what the console script imports before run()
os.kill(os.getpid(), signal.{sig})  # as a stop while twinflow's package files load
sys.argv[1:] = ["sql", "select 1"]
sys.exit(entry.run())
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_stop_before_run_sets_the_handler_is_one_line_and_130(tmp_path: Path, sig: str) -> None:
    """Round 41 (HOSTILE41): a Ctrl-C while the console script's ``from flows.cli.entry import run``
    ran (``flows``' package files, ``signal``'s enums) printed Python's traceback (exit -2), a SIGTERM
    ended it silently (-15); from ``flows/__init__.py``'s first line the signal is noted and ``run``
    stops as for one seen after."""
    proc = subprocess.run([sys.executable, "-c", NOTED_EARLY.format(sig=sig)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (130, "twin: interrupted\n")
    assert not list(tmp_path.iterdir())


def test_a_program_importing_flows_keeps_python_s_ctrl_c() -> None:
    """Only the ``twin`` console script notes early signals: a program (a notebook, a test) that
    imports ``flows`` keeps Python's handlers."""
    code = ("import signal, flows.cli.entry\n"
            "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
            " signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "True True\n", proc.stderr


def test_a_twin_run_not_stopped_puts_python_s_handlers_back() -> None:
    """Not the early noting handler: after the command, a Ctrl-C (the interpreter's shutdown) is
    Python's again."""
    code = ("import signal, sys\nsys.argv[0] = 'twin'\nimport flows.cli.entry as entry\n"
            "noting = signal.getsignal(signal.SIGINT) is not signal.default_int_handler\n"
            "sys.argv[1:] = ['topics', '--help']\n"
            "try:\n    entry.run()\nexcept SystemExit:\n    pass\n"
            "print(noting, signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
            " signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr.split()[-3:] == ["True", "True", "True"], proc.stderr
