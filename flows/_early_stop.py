"""Stop signals noted from ``twin``'s first line of twinflow on (round 41, HOSTILE41).

Until :func:`flows.cli.entry.run` sets the stop handler, a Ctrl-C raised Python's KeyboardInterrupt
wherever the process was: in the console script's ``from flows.cli.entry import run`` (``flows``'
and ``twin_models``' package files, the ``signal`` module's enums: a traceback, exit -2), or in
importlib's module-lock weakref callback, where Python cannot raise it ("Exception ignored in:
<function _get_module_lock.<locals>.cb>", its traceback, and the command ran on, exit 0 or 2).
Imported first by ``flows/__init__.py``: when the process is the ``twin`` console script (not
``python -m flows.cli``, whose ``sys.argv[0]`` is still ``-m`` then; never a program that imports
``flows``), SIGINT, SIGTERM and SIGHUP are
only noted (:data:`EARLY`) until :func:`flows.cli.entry.run` sets the handler, which then stops as
for a signal seen after. A signal ignored when the process started stays ignored. Uses ``_signal``
(C): ``signal``'s enums are ~1 ms of the window."""

import _signal
import os
import sys

EARLY: list[int] = []
"""The stop signals noted before the handler was set, first first."""
NOTED: dict[int, object] = {}
"""The signals given to :func:`note`, each with the handler it replaced."""


def note(signum: int, _frame: object) -> None:
    """The early handler: note ``signum``; :func:`flows.cli.entry.run` acts on it."""
    EARLY.append(signum)


if sys.argv and os.path.basename(sys.argv[0]) == "twin":  # the console script (``python -m``: "-m" yet)
    for _signum, _default in ((_signal.SIGINT, _signal.default_int_handler),
                              (_signal.SIGTERM, _signal.SIG_DFL),
                              (_signal.SIGHUP, _signal.SIG_DFL)):
        if _signal.getsignal(_signum) is _default:
            NOTED[_signum] = _signal.signal(_signum, note)
