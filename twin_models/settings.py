"""Declared types and ranges of configuration settings, as dataclass field metadata.

Every setting of a config dataclass is declared with :func:`setting`, which stores a
:class:`Spec` (allowed range, choices or name pattern) in the field's metadata. The type comes
from the field's annotation. The loader (``flows.config.pipeline``) walks the config tree and checks every
value against both when a file, the environment or a flag sets it, so a bad value is refused at
load with the key, the value and what is allowed, never mid-run. A test enumerates every field
and fails on one without a :class:`Spec`, so a new setting cannot skip validation.

Pure Python: no I/O, no environment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from typing import Any

__all__ = ["MAX_COUNT", "NAME", "SPEC_KEY", "YEAR_S", "Range", "Spec", "between", "positive", "setting"]

SPEC_KEY = "twin_setting"
"""The key of a field's :class:`Spec` in ``dataclasses.Field.metadata``."""

MAX_COUNT = 10_000_000
"""Upper bound of window and record counts: far above any use, far below what breaks arithmetic."""

YEAR_S = 365.0 * 86400.0

NAME = r"\S+"
"""A non-empty name or shell pattern without spaces (channels, features, topics)."""


def _num(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


@dataclass(frozen=True)
class Range:
    """A closed (or half-open) interval; NaN is never inside, infinity only when a bound is."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, x: object) -> bool:
        if not isinstance(x, int | float) or isinstance(x, bool):
            return False
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below

    def describe(self) -> str:
        """``"> 0 and <= 3.15e+07"``: what the error message says is allowed."""
        lo = f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        if math.isinf(self.hi) and not self.hi_open:
            return f"{lo} (inf allowed)"
        if math.isinf(self.hi):
            return f"{lo} and finite"
        return f"{lo} and {'<' if self.hi_open else '<='} {_num(self.hi)}"

    def outside(self) -> float:
        """A value just outside the range (used by the tests that prove every range is enforced)."""
        if math.isfinite(self.hi):
            return self.hi * 2 + 1 if self.hi >= 0 else self.hi / 2 + 1
        return self.lo - 1


@dataclass(frozen=True)
class Spec:
    """What a setting allows beyond its annotated type.

    ``range`` bounds a number, or every number inside a tuple; ``choices`` lists the allowed
    strings; ``pattern`` is a regular expression a string (or each string of a tuple) must match
    in full; ``max_items`` bounds a tuple's length; ``check`` is a rule on the whole value that
    returns what is wrong (or None), for constraints a range cannot say; ``passthrough`` marks a
    table of opaque settings handed to a library (librdkafka) whose keys are not ours to check.
    """

    range: Range | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    max_items: int | None = None
    check: Callable[[Any], str | None] | None = None
    unit: str = ""
    passthrough: bool = False


def setting(default: Any = MISSING, *, factory: Callable[[], Any] | None = None,
            doc: str = "", **spec: Any) -> Any:
    """A dataclass field with its :class:`Spec` (``range=Range(0, 1)``, ``choices=(...)``, ...)."""
    meta = {SPEC_KEY: Spec(**spec), "doc": doc}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def positive(hi: float, unit: str = "") -> dict[str, Any]:
    """Spec keywords for a number ``> 0`` and ``<= hi``."""
    return {"range": Range(0.0, hi, lo_open=True), "unit": unit}


def between(lo: float, hi: float, unit: str = "") -> dict[str, Any]:
    """Spec keywords for a number in ``[lo, hi]``."""
    return {"range": Range(lo, hi), "unit": unit}
