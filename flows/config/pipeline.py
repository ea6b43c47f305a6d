"""One frozen configuration object for every flow: defaults < TOML file < TWIN_* env < flags.

Only flows/ reads files and the environment; twin_models receives plain config objects. Every
setting declares its type (annotation) and its range or choices (``twin_models.settings.setting``
field metadata); each layer is checked when it is applied (:mod:`flows.config.tree`), so a bad
value, an unknown key or table, or a ``TWIN_*`` name that looks like a setting but is none is
refused at load in one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from flows.config.tree import apply_values, check_env_names
from flows.config.values import DEFAULT_ARCHIVE, SECRET_MARKERS, ConfigError, is_secret
from twin_models.alerting import AlertPolicyConfig
from twin_models.commands import CommandsConfig
from twin_models.prescribe import PrescribeConfig
from twin_models.settings import MAX_COUNT, NAME, YEAR_S, between, positive, setting
from twin_models.twin import TwinConfig

__all__ = ["DEFAULT_ARCHIVE", "MIN_ARCHIVE_FLUSH_S", "MIN_WINDOW_S", "SECRET_MARKERS", "ConfigError",
           "KafkaConfig", "PipelineConfig", "TopicNames", "load_config", "redact"]

TOPIC = r"[A-Za-z0-9._-]{1,249}"
"""A Kafka topic name: letters, digits, '.', '_' and '-', at most 249 characters."""
FILE_TABLES = ("pipeline", "benchmark")
"""Top-level tables of a config file: the settings, and the benchmark tools' own table."""


def path_problem(path: str) -> str | None:
    """What no path may hold: a NUL character (TOML writes one as ``\\u0000``; every command then
    stopped on ``twin: error: embedded null byte``, naming neither the setting nor the file, round 49)."""
    return "a path cannot hold a NUL character" if "\0" in path else None


def broker_problem(brokers: str) -> str | None:
    """What is wrong with a bootstrap list ``[proto://]host[:port],...`` (None: nothing we check):
    an empty address or host, or a port that is not a number in 1-65535. librdkafka takes a port
    as a 16-bit number (``host:99999`` became port 34463, ``host:x`` port 0) and an empty host as
    localhost, and said so only as a connection failure to another address."""
    for address in brokers.split(","):
        rest = address.split("://", 1)[-1].split("/", 1)[0]  # librdkafka drops a URL's path
        if rest.startswith("["):  # [IPv6]:port
            host, _, tail = rest[1:].partition("]")
            port = tail[1:] if tail.startswith(":") else (None if not tail else tail)
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        else:  # no port (9092), or an IPv6 address without brackets
            host, port = rest, None
        if not address:
            return "an empty broker address (two commas in a row, or one at an end)"
        if not host:
            return f"broker address {address!r} has no host"
        if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
            return f"broker address {address!r} has port {port!r}, not a number in 1-65535"
    return None


BROKER_LISTS = frozenset({"bootstrap.servers", "metadata.broker.list"})
"""librdkafka's names of the broker list (``metadata.broker.list`` its alias): ``kafka.brokers``'s."""


def redact(settings: Mapping[str, str]) -> dict[str, str]:
    """librdkafka settings with secret values masked (for logs, errors and --help)."""
    return {k: ("***" if is_secret(k) else v) for k, v in settings.items()}


@dataclass(frozen=True)
class TopicNames:
    """Kafka topics (the prefix in :class:`KafkaConfig` is put in front of every name)."""

    scalars: str = setting("twin.telemetry.scalar.v1", pattern=TOPIC)
    waveforms: str = setting("twin.telemetry.vibration.v1", pattern=TOPIC)
    events: str = setting("twin.events.v1", pattern=TOPIC)
    alerts: str = setting("twin.alerts.v4", pattern=TOPIC)
    state: str = setting("twin.state.v4", pattern=TOPIC)
    dead_letters: str = setting("twin.dead_letters.v1", pattern=TOPIC)
    fleet_models: str = setting("twin.fleet.models.v1", pattern=TOPIC)
    recommendations: str = setting("twin.recommendations.v1", pattern=TOPIC)
    commands: str = setting("twin.commands.v1", pattern=TOPIC)
    """Sent commands (issue 11, level 5: only when ``commands.mode`` is approve or auto)."""
    audit: str = setting("twin.audit.v1", pattern=TOPIC)
    """The command audit log (append-only)."""
    decisions: str = setting("twin.commands.decisions.v1", pattern=TOPIC)
    """Approvals and rejections from ``twin commands approve|reject``, read by ``twin run``."""
    whatif_requests: str = setting("twin.whatif.requests.v1", pattern=TOPIC)
    whatif_results: str = setting("twin.whatif.results.v1", pattern=TOPIC)


@dataclass(frozen=True)
class KafkaConfig:
    """Where the cluster is and how to talk to it.

    ``librdkafka`` holds any librdkafka setting, passed through to every client (TLS and SASL:
    ``security.protocol``, ``ssl.*``, ``sasl.*``). Secret values never appear in ``repr``.
    """

    brokers: str = setting("localhost:19092", pattern=NAME, check=broker_problem)
    topic_prefix: str = setting("", pattern=r"[A-Za-z0-9._-]{0,200}")
    partitions: int = setting(4, **between(1, 100_000))
    replication: int = setting(1, **between(1, 1000))
    topics: TopicNames = field(default_factory=TopicNames)
    librdkafka: dict[str, str] = setting(factory=dict, passthrough=True)
    connect_timeout_s: float = setting(20.0, **positive(3600.0, "seconds"))
    """How long a command waits for the brokers before it stops with an error naming them."""
    end_wait_s: float = setting(1.0, **between(0.0, 60.0, "seconds"))
    """How long a telemetry topic that reached the end of its partition still holds the source's
    event-time merge back (the other topics' newer records wait for its older ones that a producer
    writing every topic at once has not landed yet; as Kafka Streams' ``max.task.idle.ms``). At most
    half of ``allowed_lateness_s`` is used; none with ``--exit-at-end`` (a finished input). 0: go on at
    once (before round 24)."""
    partitioning: str = setting("asset_id", choices=("asset_id", "any"))
    """What the telemetry topics are keyed by. ``asset_id`` (default): a message's Kafka key is its payload's
    asset id (UTF-8), or null/empty; another key is a ``key_asset_mismatch`` dead letter. ``any`` (a plant
    whose gateways key by gateway id): keys are not checked nor passed on; an asset's records stay merged in
    event-time order only while all of them carry one key (one partition), and the merge does not lower a
    run of records stamped ahead (their keys do not name their assets:
    :mod:`flows.dataflow.sources.kafka_merge`)."""

    def __post_init__(self) -> None:
        given = sorted(BROKER_LISTS.intersection(self.librdkafka))
        if given:  # client_config puts them after kafka.brokers: they won, unchecked, over --brokers
            msg = (f"config kafka.librdkafka.{given[0]}: the brokers are set by kafka.brokers (--brokers, "
                   f"TWIN_KAFKA__BROKERS), not among the librdkafka settings")
            raise ConfigError(msg)

    def __repr__(self) -> str:
        return (f"KafkaConfig(brokers={self.brokers!r}, topic_prefix={self.topic_prefix!r}, "
                f"partitions={self.partitions}, replication={self.replication}, "
                f"connect_timeout_s={self.connect_timeout_s}, end_wait_s={self.end_wait_s}, "
                f"partitioning={self.partitioning!r}, "
                f"librdkafka={redact(self.librdkafka)!r})")

    def topic(self, name: str) -> str:
        """Full topic name of ``scalars``, ``waveforms``, ``events``, ``alerts``, ``state``..."""
        topic: str = getattr(self.topics, name)
        return self.topic_prefix + topic

    def client_config(self) -> dict[str, str]:
        """Settings shared by every client: bootstrap servers plus the pass-through settings."""
        return {"bootstrap.servers": self.brokers, **{k: str(v) for k, v in self.librdkafka.items()}}


DEFAULT_METRIC_FEATURES = ("vib.rms", "vib.kurtosis", "vib.env_bpfo_snr", "vib.env_bpfi_snr",
                           "temperature.mean")


@dataclass(frozen=True)
class MetricsConfig:
    """Bounded per-asset series: the ``top_n`` worst assets, a watch list, selected features."""

    top_n: int = setting(20, **between(0, 10_000))
    watch: tuple[str, ...] = setting((), pattern=NAME, max_items=10_000)
    features: tuple[str, ...] = setting(DEFAULT_METRIC_FEATURES, pattern=NAME, max_items=1000)


MIN_WINDOW_S = 0.001
"""Shortest window (seconds). Window bounds are datetimes, kept to the microsecond: below 1 us a
window had no length (the window step divided by zero: `twin: internal error`), and 1 ms keeps
the rounding of any window length under 0.1 %. Far below the shortest window in use (IMS: one
0.256 s frame per window)."""
MIN_ARCHIVE_FLUSH_S = 1.0
"""Shortest interval between archive flushes (seconds; ``archive_batch_rows`` still flushes a
full buffer sooner). Each flush writes one file per table and date: below a second a live run
would write a few files per table every second (a Bytewax batch each), which every query then
opens."""


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the dataflow needs to know (times in seconds)."""

    window_s: float = setting(3600.0, **between(MIN_WINDOW_S, YEAR_S, "seconds"))
    allowed_lateness_s: float = setting(600.0, **between(0.0, YEAR_S, "seconds"))
    clock: str = setting("system", choices=("system", "data"))
    """"system": quiet assets close by wall clock; "data": event time only."""
    max_future_s: float = setting(86400.0, **between(0.0, 100 * YEAR_S, "seconds"))
    archive_dir: str = setting(DEFAULT_ARCHIVE, pattern=r".+", check=path_problem)
    """The Parquet archive that ``twin run`` writes and ``twin sql`` / ``twin archive check`` read
    (their ``--archive`` flag overrides it; relative to the working folder). ``twin demo`` writes
    there too, its ``--out`` being the flag; ``twin backtest`` never does: its archive is
    ``<out>/archive``, so a backtest cannot mix into the live archive."""
    archive_batch_rows: int = setting(20000, **between(1, MAX_COUNT))
    archive_flush_s: float = setting(60.0, **between(MIN_ARCHIVE_FLUSH_S, 86400.0, "seconds"))
    twin: TwinConfig = field(default_factory=TwinConfig)
    alerts: AlertPolicyConfig = field(default_factory=AlertPolicyConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    prescribe: PrescribeConfig = field(default_factory=PrescribeConfig)
    """Prescriptions (``[pipeline.prescribe]``): costs per asset kind, derates, planned stops."""
    commands: CommandsConfig = field(default_factory=CommandsConfig)
    """The guarded command path (issue 11, level 5): off by default."""

    def __post_init__(self) -> None:
        if not self.window_s >= MIN_WINDOW_S:
            msg = f"window_s must be >= {MIN_WINDOW_S:g} seconds, got {self.window_s}"
            raise ConfigError(msg)
        if not self.archive_flush_s >= MIN_ARCHIVE_FLUSH_S:
            msg = f"archive_flush_s must be >= {MIN_ARCHIVE_FLUSH_S:g} seconds, got {self.archive_flush_s}"
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


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """TWIN_WINDOW_S=60 -> window_s; TWIN_TWIN__WARMUP_WINDOWS=12 -> twin.warmup_windows.

    Names that look like settings but are none (``TWIN_WINDOWS_S``, ``TWIN_TWIN__WARMUP``,
    ``TWIN_PIPELIN__X``) are refused with the closest setting; see :func:`check_env_names`.
    """
    out: dict[str, Any] = {}
    top = {f.name for f in fields(PipelineConfig)}
    check_env_names(PipelineConfig, env)
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
            if not isinstance(node, dict):
                msg = f"{key}: {'.'.join(parts[:-1])} is a setting, not a table"
                raise ConfigError(msg)
        node[parts[-1]] = value
    return out


def _naming_variable(message: str, env: Mapping[str, str]) -> str:
    """``message`` about a setting (``config archive_dir: ...``) given by a ``TWIN_*`` variable, led by
    that variable's name: ``TWIN_ARCHIVE_DIR: config archive_dir: ...`` (round 26: a value that is not
    UTF-8 named only the setting, which the user had set through no config file)."""
    head, _, _ = message.partition(": ")
    key = head.removeprefix("config ").split(" ", 1)[0] if head.startswith("config ") else ""
    names = [name for name in env if name.startswith("TWIN_") and key
             and (_dotted(name) == key or _dotted(name).startswith(f"{key}."))]
    return f"{names[0]}: {message}" if len(names) == 1 else message


def _dotted(name: str) -> str:
    """``TWIN_TWIN__WARMUP_WINDOWS`` -> ``twin.warmup_windows`` (as :func:`_env_values` reads it)."""
    parts = name[len("TWIN_"):].lower().split("__")
    if parts[:2] == ["kafka", "librdkafka"] and len(parts) == 3:
        parts[2] = parts[2].replace("_", ".")
    return ".".join(parts)


def _file_values(p: Path, parsed: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """The settings of a TOML file (``parsed``: its document, already parsed): its [pipeline]
    table (or its root when it has none)."""
    if parsed is not None:
        return _pipeline_table(p, parsed)
    if not p.is_file():
        msg = (f"config file {p} is not a regular file" if p.exists() else f"config file not found: {p}")
        raise ConfigError(msg)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is dropped
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"config file {p} is not valid TOML: {exc}"
        raise ConfigError(msg) from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        msg = f"config file {p} is not valid TOML: arrays or tables nested too deeply"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"config file {p} cannot be read: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    return _pipeline_table(p, data)


def _pipeline_table(p: Path, data: Mapping[str, Any]) -> Mapping[str, Any]:
    if "pipeline" not in data:
        return {k: v for k, v in data.items() if k != "benchmark"}
    for key in data:
        if key not in FILE_TABLES:
            close = difflib.get_close_matches(key, FILE_TABLES, n=1, cutoff=0.6)
            hint = f"did you mean [{close[0]}]?" if close else "allowed: [pipeline], [benchmark]"
            msg = f"unknown config table [{key}] in {p} ({hint})"
            raise ConfigError(msg)
    if not isinstance(data["pipeline"], dict):
        msg = f"config file {p}: pipeline must be a table"
        raise ConfigError(msg)
    return data["pipeline"]


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: PipelineConfig | None = None,
    parsed: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Build the config: ``base`` defaults, then the TOML file, env (TWIN_*), then overrides.
    ``parsed``: the file's TOML document, already parsed (the CLI's check parsed it:
    ``flows.cli.config_file``); None: the file is read and parsed here."""
    cfg: PipelineConfig = base or PipelineConfig()
    if path is not None:
        cfg = apply_values(cfg, _file_values(Path(path), parsed), extra_top=("pipeline",))
    env = os.environ if env is None else env
    try:
        cfg = apply_values(cfg, _env_values(env))
    except ConfigError as exc:  # the variable the value came from, not only the setting's name
        raise ConfigError(_naming_variable(str(exc), env)) from None
    if overrides:
        cfg = apply_values(cfg, _nest({k: v for k, v in overrides.items() if v is not None}))
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
