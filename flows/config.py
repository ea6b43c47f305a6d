"""One frozen configuration object for every flow: defaults < TOML file < TWIN_* env < flags.

Only flows/ reads files and the environment; twin_models receives plain config objects.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from twin_models.alerting import AlertPolicyConfig
from twin_models.twin import TwinConfig

__all__ = ["ConfigError", "KafkaConfig", "PipelineConfig", "TopicNames", "load_config", "redact"]

DEFAULT_ARCHIVE = "twin-data"


class ConfigError(ValueError):
    """A configuration value or file is invalid; the message names it."""


SECRET_MARKERS = ("password", "secret", "token", "key", "credential", "oauthbearer.config")
"""A librdkafka setting whose name holds one of these is masked (sasl.oauthbearer.config may
carry a client secret among its name=value pairs)."""


def redact(settings: Mapping[str, str]) -> dict[str, str]:
    """librdkafka settings with secret values masked (for logs, errors and --help)."""
    return {k: ("***" if any(m in k.lower() for m in SECRET_MARKERS) else v)
            for k, v in settings.items()}


@dataclass(frozen=True)
class TopicNames:
    """Kafka topics (the prefix in :class:`KafkaConfig` is put in front of every name)."""

    scalars: str = "twin.telemetry.scalar.v1"
    waveforms: str = "twin.telemetry.vibration.v1"
    events: str = "twin.events.v1"
    alerts: str = "twin.alerts.v1"
    state: str = "twin.state.v1"
    dead_letters: str = "twin.dead_letters.v1"


@dataclass(frozen=True)
class KafkaConfig:
    """Where the cluster is and how to talk to it.

    ``librdkafka`` holds any librdkafka setting, passed through to every client (TLS and SASL:
    ``security.protocol``, ``ssl.*``, ``sasl.*``). Secret values never appear in ``repr``.
    """

    brokers: str = "localhost:19092"
    topic_prefix: str = ""
    partitions: int = 4
    replication: int = 1
    topics: TopicNames = field(default_factory=TopicNames)
    librdkafka: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"KafkaConfig(brokers={self.brokers!r}, topic_prefix={self.topic_prefix!r}, "
                f"partitions={self.partitions}, replication={self.replication}, "
                f"librdkafka={redact(self.librdkafka)!r})")

    def topic(self, name: str) -> str:
        """Full topic name of ``scalars``, ``waveforms``, ``events``, ``alerts``, ``state``..."""
        return self.topic_prefix + getattr(self.topics, name)

    def client_config(self) -> dict[str, str]:
        """Settings shared by every client: bootstrap servers plus the pass-through settings."""
        return {"bootstrap.servers": self.brokers, **{k: str(v) for k, v in self.librdkafka.items()}}


DEFAULT_METRIC_FEATURES = ("vib.rms", "vib.kurtosis", "vib.env_bpfo_snr", "vib.env_bpfi_snr",
                           "temperature.mean")


@dataclass(frozen=True)
class MetricsConfig:
    """Bounded per-asset series: the ``top_n`` worst assets, a watch list, selected features."""

    top_n: int = 20
    watch: tuple[str, ...] = ()
    features: tuple[str, ...] = DEFAULT_METRIC_FEATURES


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the dataflow needs to know (times in seconds)."""

    window_s: float = 3600.0
    allowed_lateness_s: float = 600.0
    clock: str = "system"  # "system": quiet assets close by wall clock; "data": event time only
    max_future_s: float = 86400.0
    archive_dir: str = DEFAULT_ARCHIVE
    archive_batch_rows: int = 20000
    archive_flush_s: float = 60.0
    twin: TwinConfig = field(default_factory=TwinConfig)
    alerts: AlertPolicyConfig = field(default_factory=AlertPolicyConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            msg = f"window_s must be > 0 seconds, got {self.window_s}"
            raise ConfigError(msg)
        if self.allowed_lateness_s < 0:
            msg = f"allowed_lateness_s must be >= 0 seconds, got {self.allowed_lateness_s}"
            raise ConfigError(msg)
        if self.clock not in ("system", "data"):
            msg = f"clock must be 'system' or 'data', got {self.clock!r}"
            raise ConfigError(msg)
        if self.archive_batch_rows < 1:
            msg = f"archive_batch_rows must be >= 1, got {self.archive_batch_rows}"
            raise ConfigError(msg)


def _coerce(name: str, current: Any, value: Any) -> Any:
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            return tuple(value.split(",")) if isinstance(value, str) else tuple(value)
        if isinstance(current, dict):
            if not isinstance(value, Mapping):
                msg = f"config {name} must be a table of settings"
                raise ConfigError(msg)
            return {**current, **{str(k): str(v) for k, v in value.items()}}
    except (TypeError, ValueError):
        msg = f"config {name}: cannot use {value!r} (expected {type(current).__name__})"
        raise ConfigError(msg) from None
    return str(value) if isinstance(current, str) else value


def _apply(obj: Any, values: Mapping[str, Any], prefix: str = "") -> Any:
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in known:
            msg = f"unknown config key {name!r} (known: {', '.join(sorted(known))})"
            raise ConfigError(msg)
        current = getattr(obj, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, Mapping):
                msg = f"config {name} must be a table"
                raise ConfigError(msg)
            changes[key] = _apply(current, value, f"{name}.")
        else:
            changes[key] = _coerce(name, current, value)
    try:
        return replace(obj, **changes)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """TWIN_WINDOW_S=60 -> window_s; TWIN_TWIN__WARMUP_WINDOWS=12 -> twin.warmup_windows."""
    out: dict[str, Any] = {}
    top = {f.name for f in fields(PipelineConfig)}
    for key, value in env.items():
        if not key.startswith("TWIN_"):
            continue
        parts = key[len("TWIN_") :].lower().split("__")
        if parts[0] not in top:
            continue
        if parts[:2] == ["kafka", "librdkafka"] and len(parts) == 3:
            # TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD -> kafka.librdkafka["sasl.password"]
            parts[2] = parts[2].replace("_", ".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: PipelineConfig | None = None,
) -> PipelineConfig:
    """Build the config: ``base`` defaults, then the TOML file, env (TWIN_*), then overrides."""
    cfg = base or PipelineConfig()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            msg = f"config file not found: {p}"
            raise ConfigError(msg)
        try:
            data = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            msg = f"config file {p} is not valid TOML: {exc}"
            raise ConfigError(msg) from None
        cfg = _apply(cfg, data.get("pipeline", data))
    cfg = _apply(cfg, _env_values(os.environ if env is None else env))
    if overrides:
        cfg = _apply(cfg, _nest({k: v for k, v in overrides.items() if v is not None}))
    return cfg


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"kafka.brokers": x} -> {"kafka": {"brokers": x}} (flags use dotted names)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
