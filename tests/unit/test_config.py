"""Configuration: file < env < flags, clear errors, librdkafka pass-through, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.config.pipeline import ConfigError, load_config


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[pipeline]\nwindow_s = 120\n[pipeline.kafka]\nbrokers = "file:1"\npartitions = 3\n')
    cfg = load_config(f, env={"TWIN_WINDOW_S": "60", "TWIN_KAFKA__PARTITIONS": "6"},
                      overrides={"kafka.partitions": 12})
    assert cfg.window_s == 60.0 and cfg.kafka.brokers == "file:1" and cfg.kafka.partitions == 12


def test_librdkafka_settings_pass_through_and_secrets_are_redacted(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[pipeline.kafka.librdkafka]\n"security.protocol" = "SASL_SSL"\n"sasl.username" = "svc"\n')
    cfg = load_config(f, env={"TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD": "hunter2",
                              "TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_PASSWORD": "s3cret"})
    client = cfg.kafka.client_config()
    assert client["security.protocol"] == "SASL_SSL" and client["sasl.password"] == "hunter2"
    assert client["ssl.key.password"] == "s3cret"
    shown = repr(cfg)
    assert "hunter2" not in shown and "s3cret" not in shown and "SASL_SSL" in shown


@pytest.mark.parametrize("text, needle", [
    ("[pipeline]\nwindow_s = 0\n", "window_s must be >= 0.001"),
    ("[pipeline]\nclock = 'wall'\n", "clock must be 'system' or 'data'"),
    ("[pipeline.twin]\nwarmup = 3\n", "unknown config key 'twin.warmup'"),
    ("[pipeline\n", "not valid TOML"),
    ("[pipeline.kafka]\npartitions = 'many'\n", "config kafka.partitions: cannot use 'many'"),
])
def test_bad_config_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace("'", "'")):
        load_config(f, env={})


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/twin.toml", env={})
