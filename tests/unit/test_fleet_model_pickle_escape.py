"""A fleet model message is untrusted: its pickle may name only the classes a model is made of.

Round 50 (HOSTILE50): the allow-list let through any name under ``numpy.`` / ``river.`` /
``twin_models.rul.`` not starting with ``_``: a function such as
``numpy.testing._private.utils.runstring`` (it ``exec``s its argument), or a dotted name through a
module's imports (``numpy.lib._datasource`` + ``os.system``), ran code as the message was read,
before the flow started (the catch-up) and in the consumer's thread.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from flows.app.fleet_topic import load_model, model_message
from tests.unit.test_fleet_catch_up import _cfg, _feed, _life
from twin_models.rul.fleet_learner import FleetLearner
from twin_models.rul.fleet_model import FleetModel
from twin_models.rul.regressors import REGRESSORS


def _payload(module: str, name: str, *args: object) -> bytes:
    """A pickle calling ``module.name(*args)`` (protocol 4: a dotted name is resolved attribute by
    attribute, as ``pickle`` does for a nested class)."""
    def text(s: str) -> bytes:
        raw = s.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    body = text(module) + text(name) + b"\x93"  # STACK_GLOBAL
    body += b"(" + b"".join(text(str(a)) if isinstance(a, str) else b"}" for a in args) + b"tR."
    return b"\x80\x04" + body


@pytest.mark.parametrize("module, name, how", [
    ("numpy.testing._private.utils", "runstring", "exec"),
    ("numpy.lib._datasource", "os.system", "shell"),
    ("numpy.testing._private.utils", "os.system", "shell"),
])
def test_a_message_naming_a_function_that_runs_code_is_refused_and_runs_nothing(
        tmp_path: Path, module: str, name: str, how: str) -> None:
    marker = tmp_path / "ran"
    arg = f"open({str(marker)!r}, 'w').write('x')" if how == "exec" else f"touch '{marker}'"
    value = _payload(module, name, arg, *([{}] if how == "exec" else []))
    got = load_model(b"pump", value)
    assert not marker.exists(), "the message's code ran"
    assert isinstance(got, str) and "not allowed" in got and name in got


def test_a_class_of_an_allowed_package_reached_through_an_import_is_refused() -> None:
    # twin_models.rul.regressors imports importlib: its import_module is no model class
    got = load_model(b"pump", _payload("twin_models.rul.regressors", "importlib.import_module", "os"))
    assert isinstance(got, str) and "importlib.import_module" in got and "not allowed" in got


@pytest.mark.parametrize("regressor", REGRESSORS)
def test_a_model_of_every_regressor_the_config_offers_passes_the_topic(regressor: str) -> None:
    # river.tree.HoeffdingAdaptiveTreeRegressor holds a statistics.NormalDist: every version of a
    # fleet so configured was a bad_fleet_model dead letter in every process (round 50)
    rng = np.random.default_rng(3)
    cfg = replace(_cfg(), regressor=regressor)
    learner = FleetLearner("engine", cfg)
    models = [m for k, n in enumerate((90, 100, 110)) for m in _feed(learner, cfg, k, _life(rng, n))]
    got = load_model(*model_message(models[-1])[:2])
    assert isinstance(got, FleetModel), got
    assert (got.kind, got.version) == (models[-1].kind, models[-1].version)
