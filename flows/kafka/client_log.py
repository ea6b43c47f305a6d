"""librdkafka's log lines from the dataflow's Kafka clients, as the project's own log lines.

Without a ``logger`` setting librdkafka prints ``%4|1700000000.123|OFFSET|rdkafka#consumer-1| ...``
straight to stderr, in its own format and unmasked (a ``client.id`` or a broker name may hold a
secret's value). Each dataflow client (the telemetry source's consumers, the sinks' producers) gets a
:class:`ClientLog` instead: confluent-kafka hands it every line (on ``poll``/``consume``/``flush``),
and it logs ``Kafka client <name>: <text> (<FACILITY>)`` on the ``flows.kafka.librdkafka`` logger,
every secret value of the client's settings and of the CLI's (:func:`flows.config.values.mask_secrets`)
masked, at librdkafka's level mapped by confluent-kafka (warnings and errors show as the project's other
warnings do; notices are INFO). Lines ``drop`` names are dropped (TLS/SASL clients: those a
KafkaSecurityError reports already, :mod:`flows.kafka.errors`);
the notice that a setting meant for consumers is ignored by a producer (one settings table goes to every
client, by design) is DEBUG. A ``listener`` sees every line first (the source watches for a deleted topic).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from flows.config.values import mask_secrets, mask_values, secret_values

__all__ = ["LOG", "ClientLog"]

LOG = logging.getLogger("flows.kafka.librdkafka")
_THREAD = re.compile(r"^\[thrd:[^\]]*\]:\s*")
_OTHER_ROLE = re.compile(r"is a (?:consumer|producer) property and will be ignored by this")


class ClientLog:
    """confluent-kafka's ``logger`` of one client: it calls ``log(level, "%s [%s] %s", fac, name, text)``."""

    def __init__(self, settings: Mapping[str, Any], *, drop: Callable[[str], bool] | None = None,
                 listener: Callable[[str, str], None] | None = None) -> None:
        self.secrets = secret_values(settings)
        self.drop = drop
        self.listener = listener

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if len(args) == 3:
            fac, name, text = (str(a) for a in args)
        else:
            fac, name, text = "", "", fmt % args if args else fmt
        text = _THREAD.sub("", text)
        if self.listener is not None:
            self.listener(fac, text)
        if self.drop is not None and self.drop(text):
            return
        if _OTHER_ROLE.search(text):
            level = logging.DEBUG
        line = f"Kafka client {name}: {text} ({fac})" if fac else f"Kafka client {name}: {text}"
        LOG.log(level, "%s", mask_secrets(mask_values(line, self.secrets)))
