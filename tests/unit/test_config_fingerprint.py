"""The digital thread's configuration hash: stable across processes, sensitive to every setting,
blind to secrets (issue 11)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from flows.config.fingerprint import HASH_CHARS, canonical_settings, config_hash
from flows.config.pipeline import load_config

SECRET = "hunter2-very-secret"
ENV = {"TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": SECRET, "TWIN_KAFKA__LIBRDKAFKA__SASL_USERNAME": "svc",
       "TWIN_WINDOW_S": "120"}

_CHILD = ("import sys; from flows.config.fingerprint import config_hash; "
          "from flows.config.pipeline import load_config; "
          "print(config_hash(load_config(env=dict(a.split('=', 1) for a in sys.argv[1:]))))")


def _child_hash(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", _CHILD, *(f"{k}={v}" for k, v in env.items())],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_same_config_gives_the_same_hash_in_two_processes() -> None:
    here = config_hash(load_config(env=ENV))
    assert len(here) == HASH_CHARS and int(here, 16) >= 0
    assert _child_hash(ENV) == here
    assert _child_hash(ENV) == _child_hash(dict(reversed(list(ENV.items()))))


@pytest.mark.parametrize(("key", "value"), [
    ("TWIN_WINDOW_S", "121"), ("TWIN_TWIN__WARMUP_WINDOWS", "13"), ("TWIN_ALERTS__MIN_WINDOWS", "4"),
    ("TWIN_TWIN__FLEET__REFIT_GROWTH", "0.2"), ("TWIN_CLOCK", "data"),
    # round 19: with "any" a message keyed by another asset is processed, not a dead letter
    ("TWIN_KAFKA__PARTITIONING", "any"),
])
def test_a_changed_setting_changes_the_hash(key: str, value: str) -> None:
    assert config_hash(load_config(env={**ENV, key: value})) != config_hash(load_config(env=ENV))


@pytest.mark.parametrize(("key", "value"), [
    ("TWIN_ARCHIVE_DIR", "/elsewhere"), ("TWIN_KAFKA__TOPIC_PREFIX", "other."),
    ("TWIN_KAFKA__BROKERS", "kafka-1:9092"), ("TWIN_KAFKA__TOPICS__FLEET_MODELS", "run2.fleet"),
    ("TWIN_KAFKA__LIBRDKAFKA__SASL_USERNAME", "svc2"), ("TWIN_ARCHIVE_FLUSH_S", "5"),
    # connection-only settings (round 18): a rotated certificate or a moved broker keeps the name
    ("TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_LOCATION", "/etc/twin/new.key"),
    ("TWIN_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
    ("TWIN_KAFKA__LIBRDKAFKA__CLIENT_ID", "twin-b"),
    ("TWIN_KAFKA__LIBRDKAFKA__SOCKET_TIMEOUT_MS", "90000"), ("TWIN_KAFKA__CONNECT_TIMEOUT_S", "60"),
    # round 19: which offsets a gap continues at (the lineage's input ranges say what was read),
    # and how many partitions (state is keyed by asset, never by partition)
    ("TWIN_KAFKA__LIBRDKAFKA__AUTO_OFFSET_RESET", "latest"), ("TWIN_KAFKA__PARTITIONS", "12"),
    ("TWIN_KAFKA__PARTITIONING", "asset_id"),
])
def test_where_records_go_does_not_change_the_hash(key: str, value: str) -> None:
    """The same flow writing elsewhere (another archive, broker, topic, process count) names the
    same configuration: only what decides the records' values is hashed."""
    assert config_hash(load_config(env={**ENV, key: value})) == config_hash(load_config(env=ENV))


def test_secrets_are_neither_in_the_hashed_text_nor_recoverable_from_the_hash() -> None:
    cfg = load_config(env=ENV)
    text = canonical_settings(cfg)
    assert SECRET not in text and '"kafka"' not in text  # the connection is not hashed at all
    # the hash does not depend on the secret at all: nothing to test guesses against
    other = load_config(env={**ENV, "TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": "another-password"})
    assert config_hash(other) == config_hash(cfg)
    assert config_hash(cfg) == hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def test_the_default_partitioning_keeps_the_hashes_written_before() -> None:
    """``kafka.partitioning`` is hashed only when it is not the default, so every configuration at
    the default names the same hash as before round 19 (the canonical text has no kafka section)."""
    cfg = load_config(env=ENV)
    assert '"kafka"' not in canonical_settings(cfg)
    text = canonical_settings(load_config(env={**ENV, "TWIN_KAFKA__PARTITIONING": "any"}))
    assert '"kafka":{"partitioning":"any"}' in text
