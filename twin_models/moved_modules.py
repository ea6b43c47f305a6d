"""Old module paths that still import: recovery snapshots pickled before a move must still load.

Bytewax pickles each stateful step's state (an asset's twin, the fleet's lives, window contents),
and a pickle names every class by its module path. When a module moves (issue 9 gave
``twin_models`` and ``flows`` their package layout), a ``--recovery-dir`` written by the old
version still names the old paths. :func:`install` registers a finder that answers an old
path with the module now at the new path (the same module object, so classes are identical).
Nothing else should import an old path: the aliases exist for unpickling only.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # round 36: not imported at run time (importlib.abc loads importlib.resources, tempfile,
    # random ..., typing ~3-11 ms: 10-50 ms before the `twin` script could install its stop handler)
    from collections.abc import Mapping
    from importlib.abc import Loader as _Loader
    from types import ModuleType
    from typing import Any
else:
    _Loader = object  # the import system asks for create_module and exec_module only

__all__ = ["TWIN_MODELS_MOVES", "install", "restore_state"]

TWIN_MODELS_MOVES: Mapping[str, str] = {
    # old module -> new module (issue 9). Old names that are now packages re-export their
    # classes from the package (twin_models.anomaly, twin_models.rul) and need no alias.
    "twin_models.novelty": "twin_models.anomaly.novelty",
    "twin_models.calibration": "twin_models.anomaly.calibration",
    "twin_models.health": "twin_models.rul.health",
    "twin_models.fleet": "twin_models.rul.fleet",
    "twin_models.rul_regression": "twin_models.rul.regression",
    "twin_models.regime": "twin_models.rul.regimes",
    "twin_models.gbm": "twin_models.rul.trees",
    "twin_models.scoring": "twin_models.evaluate.scoring",
    "twin_models.evaluation": "twin_models.evaluate.detection",
    "twin_models.simulate": "twin_models.simulator.fleet",
    "twin_models.simulate_physics": "twin_models.simulator.physics",
    "twin_models.bearings": "twin_models.diagnosis.bearings",
}


def restore_state(obj: object, state: dict[str, Any]) -> None:
    """What unpickling does for a class without ``__setstate__``: set the attributes, their names
    interned. A ``__setstate__`` that migrates old fields ends with this, so that a restored
    object pickles to the very bytes of the original (Bytewax's undo of a failed item compares
    them; non-interned names would be stored once per object instead of once per pickle)."""
    obj.__dict__.update({sys.intern(k): v for k, v in state.items()})


class _AliasLoader(_Loader):
    """Loads an old path by importing the new one and handing back that very module."""

    def __init__(self, target: str) -> None:
        self._target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self._target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the target module is already executed."""


class _MovedModuleFinder:
    """A meta path finder (the protocol: ``find_spec``) answering the old paths in ``moves``."""

    def __init__(self, moves: Mapping[str, str]) -> None:
        self.moves = dict(moves)

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = self.moves.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install(moves: Mapping[str, str]) -> None:
    """Make every old path in ``moves`` import as its new module (idempotent)."""
    for finder in sys.meta_path:
        if isinstance(finder, _MovedModuleFinder):
            finder.moves.update(moves)
            return
    sys.meta_path.append(_MovedModuleFinder(moves))
