"""One setting's value: parsed by its annotated type, then checked against its declared Spec.

Values come from TOML (typed) or from the environment and flags (text). Both go through the same
rules, so ``window_s = true`` and ``TWIN_WINDOW_S=true`` are refused alike: a bool is never a
number, a float is an int only when it is whole (3.0, not 2.5), NaN is in no range, infinity
only where a range says so, and a bool is only true/false/1/0/yes/no/on/off. Every error is one
line naming the key, the value and what is allowed (secret librdkafka values are masked).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from twin_models.settings import Spec

__all__ = ["DEFAULT_ARCHIVE", "LIBRDKAFKA_SENSITIVE", "SECRET_MARKERS", "ConfigError", "coerce_setting",
           "is_secret", "mask_secrets", "mask_values", "remember_secret", "secret_values", "show_setting"]

DEFAULT_ARCHIVE = "twin-data"
"""The archive folder when none is configured (here, not in flows.config.pipeline, so that building the
CLI parser does not import the models)."""

LIBRDKAFKA_SENSITIVE = (
    "sasl.password", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.client.credentials.client.secret",
    "sasl.oauthbearer.config", "sasl.oauthbearer.assertion.private.key.file",
    "sasl.oauthbearer.assertion.private.key.passphrase", "sasl.oauthbearer.assertion.private.key.pem",
    "ssl.key.password", "ssl.key.pem", "ssl.keystore.password", "ssl.ca.pem", "ssl_key",
)
"""The settings librdkafka itself redacts (its ``_RK_SENSITIVE`` flag), as librdkafka 2.16.0 prints
them with ``debug=conf`` (``[redacted]``); ``ssl_key`` is the internal property behind
``rd_kafka_conf_set_ssl_cert``, and ``...client.credentials.client.secret`` an alias of
``sasl.oauthbearer.client.secret``. Two it also redacts stay visible here on purpose:
``sasl.username`` (who connects is what an operator needs to read in an auth error) and
``ssl.key.location`` (a path, not the key)."""

SECRET_MARKERS = ("password", "passphrase", "secret", "token", "credential", "credentials")
"""A setting whose LAST word (split at '.', '_' and '-') is one of these is masked too, whatever
the library: ``my.api.token``, ``TWIN_..._PASSWORD``. ``key`` is not a marker: ``ssl.key.location``
is a path, and ``sasl.oauthbearer.token.endpoint.url`` (last word ``url``) is shown."""

_WORD_SPLIT = re.compile(r"[._\-]+")
_SENSITIVE_WORDS = tuple(tuple(_WORD_SPLIT.split(name)) for name in LIBRDKAFKA_SENSITIVE)

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names it."""


def is_secret(key: str) -> bool:
    """Whether a setting's value must never be shown: one of :data:`LIBRDKAFKA_SENSITIVE` (also
    as the end of a longer name, ``kafka.librdkafka.sasl.password`` or the env name
    ``TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD``), or a name whose last word is a
    :data:`SECRET_MARKERS` word."""
    words = tuple(w for w in _WORD_SPLIT.split(key.lower()) if w)
    if not words:
        return False
    if words[-1] in SECRET_MARKERS:
        return True
    return any(words[-len(name):] == name for name in _SENSITIVE_WORDS)


def secret_values(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The values of a client settings table's secret settings (:func:`is_secret`), to hand to
    :func:`mask_values`."""
    return tuple(str(v) for k, v in settings.items() if v and is_secret(str(k)))


_SECRETS: set[str] = set()

MIN_SUBSTRING_SECRET = 4
"""A secret at least this long is masked wherever it appears in a message; a shorter one only
where it stands as a whole token (not inside a word): a one-letter password ``p`` masked as a
substring turned ``sasl.password`` into ``sasl.***assword``."""


def remember_secret(value: str) -> None:
    """A secret setting's value, to be masked wherever a message might repeat it."""
    if value:
        _SECRETS.add(value)


def mask_values(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` as ``***``: one of at least :data:`MIN_SUBSTRING_SECRET`
    characters wherever it appears, a shorter one only as a whole token: not touching a word
    character, nor inside a dotted name (so ``sasl.password=p``, ``'p'`` and ``p.`` are masked, the
    ``p`` of ``password`` and the ``ca`` of ``ssl.ca.location`` are not). A secret made of
    ``name=value`` pairs (``sasl.oauthbearer.config``) also has each value masked on its own:
    librdkafka quotes such a setting from the pair it stopped at, never whole."""
    for secret in sorted(_with_pair_values(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SUBSTRING_SECRET:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![\w.]){re.escape(secret)}(?!\w|\.\w)", "***", text)
    return text


def _with_pair_values(secrets: Iterable[str]) -> set[str]:
    """The non-empty ``secrets`` and the value of each ``name=value`` pair among their words."""
    out = {s for s in secrets if s}
    for secret in list(out):
        if "=" in secret:
            out.update(v for word in secret.split() if (v := word.partition("=")[2]))
    return out


def mask_secrets(text: str) -> str:
    """``text`` with every known secret value (config tables, TWIN_*PASSWORD* etc.) as ``***``
    (:func:`mask_values`)."""
    secrets = set(_SECRETS)
    secrets.update(v for k, v in os.environ.items() if k.startswith("TWIN_") and is_secret(k))
    return mask_values(text, secrets)


def show_setting(key: str, value: Any) -> str:
    """``repr(value)``, or ``'***'`` for secrets; long values are cut."""
    if is_secret(key):
        return "'***'"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad_type(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config {key}: cannot use {show_setting(key, value)} (expected {expected})")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise _bad_type(key, value, "true or false (also 1/0, yes/no, on/off)")


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise _bad_type(key, value, "a whole number") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise _bad_type(key, value, "a whole number")


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _bad_type(key, value, "a number") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _bad_type(key, value, "a number")


def _as_str(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _bad_type(key, value, "a string")


def _as_table(key: str, value: Any) -> dict[str, str]:
    """A pass-through table of library settings: scalar values only, bools as true/false."""
    if not isinstance(value, Mapping):
        raise _bad_type(key, value, "a table of settings")
    out = {}
    for k, v in value.items():
        name = f"{key}.{k}"
        _check_utf8(name, str(k))
        if isinstance(v, str):
            _check_utf8(name, v)
        if isinstance(v, bool):
            out[str(k)] = "true" if v else "false"
        elif isinstance(v, str | int | float):
            out[str(k)] = str(v)
        else:
            raise _bad_type(name, v, "a string, number or boolean")
        if is_secret(str(k)):
            remember_secret(out[str(k)])
    return out


def _as_tuple(key: str, args: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    fixed = not (len(args) == 2 and args[1] is Ellipsis)
    if isinstance(value, str):
        if not fixed and args[0] is str:  # env/flag text: comma-separated names
            return tuple(v.strip() for v in value.split(",")) if value.strip() else ()
        try:
            value = tomllib.loads(f"v = {value}")["v"]  # env text of a nested list: TOML syntax
        except (tomllib.TOMLDecodeError, RecursionError):
            raise _bad_type(key, value, "a list") from None
    if not isinstance(value, list | tuple):
        raise _bad_type(key, value, "a list")
    if fixed and len(value) != len(args):
        raise _bad_type(key, value, f"a list of {len(args)} values")
    hints = args if fixed else (args[0],) * len(value)
    return tuple(parse_typed(f"{key}[{i}]", h, v) for i, (h, v) in enumerate(zip(hints, value, strict=True)))


def parse_typed(key: str, hint: Any, value: Any) -> Any:
    """``value`` as the annotated type ``hint`` (a ConfigError naming ``key`` otherwise)."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return _as_tuple(key, typing.get_args(hint), value)
    if origin is dict:
        return _as_table(key, value)
    parsers = {bool: _as_bool, int: _as_int, float: _as_float, str: _as_str}
    if hint in parsers:
        return parsers[hint](key, value)
    if isinstance(hint, types.UnionType):
        msg = f"config {key}: union types are not supported by the loader"
        raise ConfigError(msg)
    msg = f"config {key}: no parser for type {hint!r}"
    raise ConfigError(msg)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [x for v in value for x in _leaves(v)]
    return [value]


def _choices(options: tuple[str, ...]) -> str:
    quoted = [repr(c) for c in options]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _check_utf8(key: str, text: str) -> None:
    """Refuse text holding a byte that is not UTF-8 (a ``TWIN_*`` value's, kept by Python as a lone
    surrogate): librdkafka, Arrow and Prometheus take UTF-8 only (``kafka.brokers`` with one was an
    internal error)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        msg = f"config {key}: {show_setting(key, text)} is not UTF-8 text"
        raise ConfigError(msg) from None


def check_spec(key: str, spec: Spec, value: Any) -> None:
    """Refuse a parsed value outside its declared range, choices, pattern or length, or text that is
    not UTF-8."""
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.max_items is not None and isinstance(value, tuple) and len(value) > spec.max_items:
        msg = f"config {key} must have at most {spec.max_items} items, got {len(value)}"
        raise ConfigError(msg)
    for leaf in _leaves(value):
        if isinstance(leaf, str):
            _check_utf8(key, leaf)
        if spec.range is not None and isinstance(leaf, int | float) and leaf not in spec.range:
            shown = (f"{leaf!r} in {show_setting(key, value)}" if isinstance(value, tuple)
                     else show_setting(key, leaf))
            msg = f"config {key} must be {spec.range.describe()}{unit}, got {shown}"
            raise ConfigError(msg)
        if spec.choices and leaf not in spec.choices:
            msg = f"config {key} must be {_choices(spec.choices)}, got {show_setting(key, leaf)}"
            raise ConfigError(msg)
        if spec.pattern is not None and isinstance(leaf, str) and not re.fullmatch(spec.pattern, leaf):
            msg = f"config {key}: {show_setting(key, leaf)} is not a valid name (pattern {spec.pattern})"
            raise ConfigError(msg)
    if spec.check is not None and (problem := spec.check(value)):
        msg = f"config {key} = {show_setting(key, value)}: {problem}"
        raise ConfigError(msg)


def coerce_setting(key: str, hint: Any, spec: Spec, value: Any) -> Any:
    """Parse ``value`` by its type and check it against its Spec; returns the typed value."""
    parsed = parse_typed(key, hint, value)
    check_spec(key, spec, parsed)
    return parsed
