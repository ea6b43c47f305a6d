"""The walker over the settings tree: unknown keys and tables, every value typed and checked.

The tree is the frozen config dataclasses (``PipelineConfig`` and the tables it nests); each leaf
field declares its Spec with ``twin_models.settings.setting``. :func:`apply_values` applies one
layer (file, environment or flags) to a config, refusing an unknown key or table with the closest
valid name, and any value outside its type or Spec. A key an older version used (a class's
``RENAMED`` map: ``twin.novelty_scales`` -> ``twin.novelty.scales``) is refused naming its new
key. :func:`iter_settings` lists every leaf, so a
test can prove each one is declared and enforced.

Environment policy (:func:`check_env_names`): ``TWIN_<KEY>`` and ``TWIN_<TABLE>__<KEY>`` are
settings. A ``TWIN_*`` name that is not a setting but looks like one -- it uses the ``__`` table
syntax, or it is a near miss of a setting or of a CLI flag's fallback (``TWIN_WINDOWS_S``) -- is
refused with the closest name. Other ``TWIN_*`` names (CLI fallbacks such as ``TWIN_ASSETS``, the
tools' ``TWIN_DEBUG``, ``TWIN_DATASETS``, ``TWIN_KAFKA_BROKERS``, anything unrelated) are left alone.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Collection, Iterator, Mapping
from dataclasses import Field, fields, is_dataclass, replace
from typing import Any

from flows.config.values import ConfigError, coerce_setting
from twin_models.settings import SPEC_KEY, Spec

__all__ = ["RESERVED_ENV", "apply_values", "check_env_names", "iter_settings", "register_env_name",
           "renamed_key", "unknown_key"]

RESERVED_ENV = {"DEBUG", "DATASETS", "KAFKA_BROKERS", "KAFKA_LOCAL", "KAFKA_OPTIONAL", "KAFKA_SASL_BROKERS",
                "KAFKA_SASL_USER", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_CA"}
"""TWIN_* names that are not settings: TWIN_DEBUG (tracebacks), the benchmarks' data folder and
the test tooling's broker address. The CLI adds its flags' fallbacks with :func:`register_env_name`."""


def register_env_name(name: str) -> None:
    """Declare ``TWIN_<name>`` as a CLI flag's fallback (not a setting, not a typo)."""
    RESERVED_ENV.add(name.upper())


def unknown_key(shown: str, key: str, known: Collection[str], where: str = "") -> ConfigError:
    """``unknown config key 'pipelin' (did you mean 'pipeline'?)``."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
    at = f" {where}" if where else ""
    return ConfigError(f"unknown config key {shown!r}{at} ({hint})")


def renamed_key(cls: type, key: str) -> str | None:
    """The new place (dotted, relative to ``cls``) of a key an older version used, if any."""
    renamed: Mapping[str, str] = getattr(cls, "RENAMED", {})
    return renamed.get(key)


def _spec(f: Field[Any]) -> Spec | None:
    spec = f.metadata.get(SPEC_KEY)
    return spec if isinstance(spec, Spec) else None


def _apply_leaf(obj: Any, f: Field[Any], hint: Any, name: str, value: Any) -> Any:
    spec = _spec(f)
    if spec is None:
        msg = f"config {name}: the setting declares no type and range (a bug: use settings.setting)"
        raise ConfigError(msg)
    parsed = coerce_setting(name, hint, spec, value)
    if spec.passthrough:
        return {**getattr(obj, f.name), **parsed}
    return parsed


def apply_values(obj: Any, values: Mapping[str, Any], prefix: str = "",
                 extra_top: tuple[str, ...] = ()) -> Any:
    """``obj`` with ``values`` (a nested mapping) applied, every key and value checked."""
    known = {f.name: f for f in fields(obj)}
    hints = typing.get_type_hints(type(obj))
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            new = renamed_key(type(obj), key)
            if new is not None:
                table, _, leaf = f"{prefix}{new}".rpartition(".")
                where = f" ([pipeline.{table}] {leaf})" if table else ""
                msg = f"config key {name!r} was renamed: use {prefix}{new}{where}"
                raise ConfigError(msg)
            raise unknown_key(name, key, [*known, *extra_top])
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, Mapping):
                msg = f"config {name} must be a table, got {value!r}"
                raise ConfigError(msg)
            changes[key] = apply_values(current, value, f"{name}.")
        else:
            changes[key] = _apply_leaf(obj, known[key], hints[key], name, value)
    try:
        return replace(obj, **changes)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def iter_settings(cls: type, prefix: str = "") -> Iterator[tuple[str, Field[Any], Any, type]]:
    """Every leaf setting under ``cls``: (dotted name, field, annotated type, owning class)."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and is_dataclass(hint):
            yield from iter_settings(hint, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, hint, cls


def _env_path_problem(root: type, parts: list[str]) -> tuple[str, str, list[str]] | None:
    """For TWIN_A__B__C: the first part that names nothing, with its candidates."""
    cls: Any = root
    for i, part in enumerate(parts):
        if cls is None:
            return ".".join(parts[:i]), part, []
        hints = typing.get_type_hints(cls)
        names = {f.name: f for f in fields(cls)}
        if part not in names:
            new = renamed_key(cls, part)
            if new is not None:
                renamed = "__".join([*parts[:i], *new.split(".")]).upper()
                msg = f"TWIN_{'__'.join(parts).upper()} was renamed: use TWIN_{renamed}"
                raise ConfigError(msg)
            return ".".join(parts[:i]), part, list(names)
        spec = _spec(names[part])
        if spec is not None and spec.passthrough:
            return None
        hint = hints[part]
        cls = hint if isinstance(hint, type) and is_dataclass(hint) else None
    return None


def check_env_names(root: type, env: Mapping[str, str]) -> None:
    """Refuse TWIN_* names that look like settings but name none (see the module docstring)."""
    top = [f.name for f in fields(root)]
    for key in env:
        if not key.startswith("TWIN_") or key[5:].upper() in RESERVED_ENV:
            continue
        parts = key[5:].lower().split("__")
        if parts[0] not in top and len(parts) == 1:
            candidates = [*top, *(n.lower() for n in RESERVED_ENV)]
            close = difflib.get_close_matches(parts[0], candidates, n=1, cutoff=0.8)
            if close:
                msg = f"{key} is not a setting (did you mean TWIN_{close[0].upper()}?)"
                raise ConfigError(msg)
            continue
        problem = _env_path_problem(root, parts)
        if problem is not None:
            table, part, names = problem
            where = f"in table {table!r}" if table else "at the top level"
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(names)) or 'none'}"
            msg = f"{key} is not a setting: no {part!r} {where} ({hint})"
            raise ConfigError(msg)
