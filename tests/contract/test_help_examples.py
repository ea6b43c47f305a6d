"""Each ``twin`` command's ``--help`` ends its description with an example, and the example is one
that command's parser takes: a flag renamed or dropped leaves no example that fails for whoever
copies it (round 41 read every --help against the code by hand). So are the ``twin`` commands of
``infra/docker-compose.yml``, which no test runs (no Docker in CI)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from flows.cli.main import build_parser
from tests.contract.cli_parsers import every_parser

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = re.compile(r"Example[^:]*: (twin .*?)(?:, then |\s\(|$)")


PARSERS = {path: sub for path, sub in every_parser(build_parser()) if path}


def test_every_command_is_read() -> None:
    assert {("demo",), ("sql",), ("archive",), ("archive", "compact"), ("backtest",)} <= set(PARSERS)


@pytest.mark.parametrize("path", sorted(PARSERS), ids=" ".join)
def test_help_example_is_taken_by_its_command(path: tuple[str, ...]) -> None:
    examples = EXAMPLE.findall(" ".join(PARSERS[path].description.split()))
    assert examples, f"`twin {' '.join(path)} --help` gives no example"
    for example in examples:
        words = shlex.split(example)[1:]
        assert tuple(words[:len(path)]) == path, f"`twin {' '.join(path)} --help`'s example: {example}"
        try:
            args = build_parser().parse_args(words)
        except SystemExit:
            pytest.fail(f"`twin {' '.join(path)} --help`'s example is refused: {example}")
        assert args.command == path[0]


def test_docker_compose_commands_are_taken_by_twin() -> None:
    """``infra/docker-compose.yml`` runs ``twin`` with its own arguments and TWIN_* variables: each
    service's command is one the parser takes and its variables are settings that load."""
    from flows.config.pipeline import load_config

    services = yaml.safe_load((ROOT / "infra" / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    twins = {name: s for name, s in services.items() if "infra/Dockerfile" in str(s.get("build"))}
    assert {"topics", "simulator", "pipeline"} <= set(twins)
    for name, service in twins.items():
        try:
            args = build_parser().parse_args(service["command"])
        except SystemExit:
            pytest.fail(f"docker-compose service {name}: `twin {' '.join(service['command'])}` is refused")
        assert args.command == service["command"][0]
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        assert load_config(None, env=env).kafka.brokers == "kafka:9092", name
