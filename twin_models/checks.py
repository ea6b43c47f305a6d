"""Contract checks every online model must pass (beside River's own ``river.checks``).

The contracts themselves are declared in :mod:`twin_models.contracts`; tests/contract runs these
checks over every model of the twin, each seen through an adapter with the two verbs of
:class:`OnlineModel` (``score_one``: the model's pure read; ``learn_one``: what changes it).
Each check takes a model factory and a stream of inputs and raises ``AssertionError`` with a
message naming the model and the broken contract:

- :func:`check_score_is_pure`: ``score_one`` never changes the model (prequential order is safe);
- :func:`check_pickle_round_trip`: a pickled and restored model scores and learns identically
  (Bytewax recovery snapshots state by pickling it);
- :func:`check_pickle_is_stable`: a restored model pickles to the very bytes of the original
  (the guard's undo of a failed item is checked by comparing pickles);
- :func:`check_bounded_memory`: the pickled state stops growing on a long stream;
- :func:`check_score_range`: calibrated scores stay within [0, 1].
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = [
    "ALL_CHECKS",
    "OnlineModel",
    "check_bounded_memory",
    "check_pickle_is_stable",
    "check_pickle_round_trip",
    "check_score_is_pure",
    "check_score_range",
]


class OnlineModel(Protocol):
    """River's verbs."""

    def score_one(self, x: Any) -> float: ...  # noqa: D102

    def learn_one(self, x: Any) -> None: ...  # noqa: D102


Factory = Callable[[], OnlineModel]


def _name(model: object) -> str:
    return type(model).__name__


def check_score_is_pure(factory: Factory, stream: Sequence[Any]) -> None:
    """Scoring must not change state: same pickle before and after ``score_one``."""
    model = factory()
    for i, x in enumerate(stream):
        before = pickle.dumps(model)
        model.score_one(x)
        if pickle.dumps(model) != before:
            msg = f"{_name(model)}.score_one changed the model's state at item {i}"
            raise AssertionError(msg)
        model.learn_one(x)


def check_pickle_round_trip(factory: Factory, stream: Sequence[Any]) -> None:
    """A restored copy must behave exactly like the original on the rest of the stream."""
    model = factory()
    half = len(stream) // 2
    for x in stream[:half]:
        model.learn_one(x)
    clone = pickle.loads(pickle.dumps(model))
    for i, x in enumerate(stream[half:], start=half):
        a, b = model.score_one(x), clone.score_one(x)
        if a != b:
            msg = f"{_name(model)} restored from pickle scored {b} instead of {a} at item {i}"
            raise AssertionError(msg)
        model.learn_one(x)
        clone.learn_one(x)


def check_pickle_is_stable(factory: Factory, stream: Sequence[Any]) -> None:
    """Pickle, restore, pickle again: the same bytes, at the middle and at the end of the stream."""
    model = factory()
    half = len(stream) // 2
    for part in (stream[:half], stream[half:]):
        for x in part:
            model.learn_one(x)
        blob = pickle.dumps(model)
        if pickle.dumps(pickle.loads(blob)) != blob:
            msg = f"{_name(model)} restored from pickle pickles to other bytes than the original"
            raise AssertionError(msg)


def check_bounded_memory(factory: Factory, stream: Sequence[Any], *, slack: float = 1.25) -> None:
    """State after the whole stream is at most ``slack`` x its size after the first half."""
    model = factory()
    half = len(stream) // 2
    for x in stream[:half]:
        model.learn_one(x)
    size_half = len(pickle.dumps(model))
    for x in stream[half:]:
        model.learn_one(x)
    size_full = len(pickle.dumps(model))
    if size_full > slack * size_half:
        msg = (
            f"{_name(model)} state grew from {size_half} to {size_full} bytes over the second "
            f"half of a {len(stream)}-item stream: memory is not bounded"
        )
        raise AssertionError(msg)


def check_score_range(factory: Factory, stream: Sequence[Any]) -> None:
    """Every score lies in [0, 1]."""
    model = factory()
    for i, x in enumerate(stream):
        s = model.score_one(x)
        if not 0.0 <= s <= 1.0:
            msg = f"{_name(model)} scored {s} (outside [0, 1]) at item {i}"
            raise AssertionError(msg)
        model.learn_one(x)


ALL_CHECKS = (check_score_is_pure, check_pickle_round_trip, check_pickle_is_stable, check_bounded_memory,
              check_score_range)
