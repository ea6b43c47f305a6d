"""The ``twin`` command's parsers, walked once for the contract tests that read them."""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def every_parser(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every parser below it, each with its command path (the root's is ``()``)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from every_parser(sub, (*path, name))


def is_group(parser: argparse.ArgumentParser) -> bool:
    """A parser of subcommands (``twin``, ``twin archive``), not a command that runs."""
    return any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)
