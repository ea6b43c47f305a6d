"""Argument helpers shared by the ``twin`` subcommands (env fallbacks, checked numbers, metrics)."""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["add_metrics_args", "env_default", "load_metadata", "positive_float", "positive_int",
           "serve_metrics"]


def env_default(name: str, default: Any) -> Any:
    return os.environ.get(f"TWIN_{name}", default)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0:
        msg = f"must be > 0, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_metrics_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-port", type=int, default=env_default("METRICS_PORT", None),
                   help="serve Prometheus metrics on this port; process i of a cluster uses port + i "
                        "(env TWIN_METRICS_PORT; default: not served)")
    p.add_argument("--metrics-address", default=env_default("METRICS_ADDRESS", "127.0.0.1"),
                   help="address to bind the metrics endpoint (env TWIN_METRICS_ADDRESS; "
                        "default %(default)s)")


def load_metadata(path: str | None) -> Any:
    if not path:
        return {}
    from flows.sources.files import read_metadata

    return read_metadata(path)


def serve_metrics(metrics: Any, port: int | None, address: str, offset: int = 0) -> None:
    """Expose the process's metrics over HTTP for Prometheus (nothing if ``port`` is None)."""
    if port is None:
        return
    from prometheus_client import start_http_server

    start_http_server(int(port) + offset, addr=address, registry=metrics.registry)
