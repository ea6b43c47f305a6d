"""Which setting names are secret: librdkafka's own redacted list plus last-word markers.

The list is checked against the installed librdkafka: a consumer created with ``debug=conf``
prints its settings, the sensitive ones as ``[redacted]``; every name it redacts is secret here
too, except the two kept visible on purpose (``sasl.username``, ``ssl.key.location``).
"""

from __future__ import annotations

import logging

import pytest

from flows.config.pipeline import redact
from flows.config.values import LIBRDKAFKA_SENSITIVE, is_secret, mask_secrets, secret_values, show_setting

KEPT_VISIBLE = {"sasl.username", "ssl.key.location"}
"""librdkafka redacts these; twinflow shows them (a user name and a path are what an operator needs
to read in an authentication error)."""

PROBED = (
    "sasl.password", "sasl.username", "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.id", "sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.scope",
    "sasl.oauthbearer.assertion.private.key.file", "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem", "sasl.kerberos.keytab", "sasl.kerberos.principal",
    "ssl.key.password", "ssl.key.location", "ssl.key.pem", "ssl.keystore.password", "ssl.ca.pem",
    "ssl.ca.location", "ssl.certificate.pem", "ssl.certificate.location", "ssl.crl.location",
    "https.ca.pem", "client.id",
)


def _librdkafka_redacted(names: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(names librdkafka prints as [redacted], names it prints in clear) with debug=conf."""
    from confluent_kafka import Consumer

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("tests.secret_names")
    log.addHandler(Keep())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    redacted, shown = set(), set()
    for name in names:
        lines.clear()
        value = "/tmp/x" if name.endswith((".location", ".file", ".keytab")) else "v123"  # noqa: S108
        consumer = Consumer({"group.id": "g", "debug": "conf", "logger": log, name: value})
        consumer.poll(0.05)
        consumer.close()
        dumped = [line for line in lines if f"  {name} = " in line]
        assert dumped, f"librdkafka did not print {name} with debug=conf"
        (redacted if "[redacted]" in dumped[0] else shown).add(name)
    return redacted, shown


def test_agrees_with_the_installed_librdkafka() -> None:
    redacted, shown = _librdkafka_redacted(PROBED)
    assert "sasl.password" in redacted  # the probe itself works
    assert {n for n in redacted if not is_secret(n)} == KEPT_VISIBLE
    assert {n for n in shown if is_secret(n)} == set()


@pytest.mark.parametrize("name", [n for n in LIBRDKAFKA_SENSITIVE if n != "ssl_key"])
def test_every_listed_name_is_a_real_librdkafka_redaction(name: str) -> None:
    if name == "sasl.oauthbearer.client.credentials.client.secret":
        pytest.skip("an alias: librdkafka prints it under sasl.oauthbearer.client.secret")
    redacted, _ = _librdkafka_redacted((name,))
    assert redacted == {name}


@pytest.mark.parametrize("name", [
    "sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "ssl_key",
    "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "ssl.ca.pem",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "kafka.librdkafka.sasl.password", "TWIN_KAFKA__LIBRDKAFKA__SASL_PASSWORD",
    "TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_PEM", "TWIN_KAFKA__LIBRDKAFKA__SASL_OAUTHBEARER_CONFIG",
    "my.api.token", "schema.registry.basic.auth.credentials", "vault.secret", "gpg-passphrase",
    "SASL.PASSWORD",
])
def test_secret(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize("name", [
    "ssl.key.location", "sasl.username", "TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_LOCATION",
    "sasl.oauthbearer.token.endpoint.url", "ssl.ca.location", "ssl.certificate.pem", "key",
    "message.key.schema", "partition.key", "token.count", "passwords.file", "bootstrap.servers", "",
])
def test_not_secret(name: str) -> None:
    assert not is_secret(name)


def test_redact_and_show_keep_paths_and_user_names_visible() -> None:
    settings = {"sasl.username": "alice", "sasl.password": "hunter22", "ssl.key.location": "/etc/k.pem",
                "ssl.key.password": "pw-9876"}
    assert redact(settings) == {"sasl.username": "alice", "sasl.password": "***",
                                "ssl.key.location": "/etc/k.pem", "ssl.key.password": "***"}
    assert sorted(secret_values(settings)) == ["hunter22", "pw-9876"]
    assert show_setting("ssl.key.location", "/etc/k.pem") == "'/etc/k.pem'"
    assert show_setting("ssl.key.pem", "-----BEGIN") == "'***'"


def test_env_secrets_are_masked_by_their_last_word(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_PEM", "pem-body-1234")
    monkeypatch.setenv("TWIN_KAFKA__LIBRDKAFKA__SSL_KEY_LOCATION", "/srv/key/location.pem")
    line = mask_secrets("bad key pem-body-1234 at /srv/key/location.pem")
    assert line == "bad key *** at /srv/key/location.pem"
