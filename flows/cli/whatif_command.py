"""``twin whatif ASSET``: run an asset's twin forward under a plan, from the archive.

The twin's latest state comes from the archive (:mod:`flows.app.whatif_archive`), the run from
:func:`twin_models.whatif.run_whatif`; the answer is a table (plan vs running as now) or, with
``--json``, the ``whatif_result.v1`` document. Bad arguments: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flows.cli.args import ARCHIVE_HELP, archive_dir, env_default, utf8_text

__all__ = ["MAX_ID", "WHATIF_COMMANDS", "add_whatif_parser", "an_id", "parse_date", "parse_duration"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw]?)")


MAX_DATES = 64
"""``--at`` dates at most (the what-if request schema's ``dates`` ``maxItems``)."""
MAX_ID = 128
"""Longest asset or alert id taken (the what-if request schema's ``asset_id`` ``maxLength``)."""


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``3600s`` or plain seconds -> seconds (> 0, at most the what-if
    horizon's 50 years)."""
    from twin_models.whatif import MAX_HORIZON_S

    m = _DURATION.fullmatch(text.strip())
    seconds = float(m[1]) * _UNITS[m[2] or "s"] if m else 0.0
    if not seconds > 0.0:
        msg = f"not a duration: {text!r} (e.g. 30d, 12h, 90m, 3600s)"
        raise argparse.ArgumentTypeError(msg)
    if seconds > MAX_HORIZON_S:
        days = MAX_HORIZON_S / 86400
        msg = f"must be at most {days / 365:g} years ({days:g}d), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def an_id() -> Any:
    """An asset or alert id: 1 to :data:`MAX_ID` characters, no control character."""
    def parse(text: str) -> str:
        utf8_text(text)  # round 49: the archive's query failed on it, naming a file or the archive
        if not 0 < len(text.strip()) <= MAX_ID or any(ord(c) < 32 or ord(c) == 127 for c in text.strip()):
            shown = text if len(text) <= 40 else text[:40] + "..."
            msg = f"must be 1 to {MAX_ID} characters without control characters, got {shown!r}"
            raise argparse.ArgumentTypeError(msg)
        return text
    return parse


def parse_date(text: str) -> datetime:
    """An RFC 3339 UTC time (``2026-01-20T06:00:00Z``) or a date (UTC midnight)."""
    from flows.codec import parse_timestamp

    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        pass
    try:
        return parse_timestamp(text, "date")
    except ValueError:
        msg = f"not a UTC date or time: {text!r} (e.g. 2026-01-20 or 2026-01-20T06:00:00Z)"
        raise argparse.ArgumentTypeError(msg) from None


def _number(field: str) -> Any:
    """A number within the what-if plan's bounds of ``field`` (``twin_models.whatif.LIMITS``,
    imported only when the flag is given: ``twin --help`` does not load the models)."""
    def parse(text: str) -> float:
        from twin_models.whatif import LIMITS

        try:
            value = float(text)
        except ValueError:
            msg = f"not a number: {text!r}"
            raise argparse.ArgumentTypeError(msg) from None
        lo, hi, unit = LIMITS[field]
        if not lo <= value <= hi:  # NaN too
            msg = f"must be within [{lo:g}, {hi:g}] ({unit}), got {text}"
            raise argparse.ArgumentTypeError(msg)
        return value
    return parse


def add_whatif_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``whatif`` subcommand's arguments."""
    p = sub.add_parser(
        "whatif", help="run an asset's twin forward under an operating plan (from the archive)",
        description=(
            "Fork the asset's twin as the archive last saw it (or as of --as-of) and run it forward "
            "under a constant plan: the RUL distribution (median, 10-90 %), P(failure before each "
            "--at date) and the expected indicators (failure feature, envelope line of the "
            "diagnosed defect, temperature), against running as now. Fields not given run as now. "
            "Example (on the archive `make demo` writes, pump-004's outer race fails on 20 "
            "January): twin whatif pump-004 --load 0.6 --horizon 30d --at 2026-01-20 "
            "--as-of 2026-01-19 --archive twin-data"),
    )
    p.add_argument("asset", metavar="ASSET", type=an_id(), help="the asset id")
    p.add_argument("--load", type=_number("load"), default=None,
                   help="load as a fraction of rated, 0..1.5 (e.g. 0.8 = derate to 80 %%)")
    p.add_argument("--speed-hz", type=_number("speed_hz"), default=None,
                   help="shaft speed, Hz, 0.1..1000 and at most twice the twin's reference speed")
    p.add_argument("--ambient-c", type=_number("ambient_c"), default=None,
                   help="ambient temperature, degC, -60..60")
    p.add_argument("--duty", type=_number("duty"), default=None, help="share of the time running, 0..1")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--until", type=parse_date, default=None, help="run until this UTC date/time")
    end.add_argument("--horizon", type=parse_duration, default=None,
                     help="run this long (30d, 12h ...; at most 50 years; default 30d, or to the latest "
                          "--at)")
    p.add_argument("--at", type=parse_date, action="append", default=[], metavar="DATE",
                   help="give P(failure before DATE); repeatable")
    p.add_argument("--as-of", type=parse_date, default=None, metavar="DATE",
                   help="use the twin as the archive saw it at DATE (default: its newest state)")
    p.add_argument("--archive", default=None, help=ARCHIVE_HELP)
    p.add_argument("--config", default=env_default("CONFIG", None),
                   help="TOML config file (env TWIN_CONFIG): its archive_dir names the archive "
                        "unless --archive is given; every setting in it is checked either way")
    p.add_argument("--json", action="store_true", help="print the whatif_result.v1 JSON document")


def _cmd_whatif(args: argparse.Namespace) -> int:
    from flows import codec
    from flows.app.whatif_archive import archive_basis
    from flows.app.whatif_text import render
    from flows.archive.files import printable
    from twin_models.whatif import Scenario, run_whatif

    if len(set(args.at)) > MAX_DATES:
        msg = f"at most {MAX_DATES} --at dates, got {len(set(args.at))}"
        raise ValueError(msg)
    scenario = Scenario.constant(load=args.load, speed_hz=args.speed_hz, ambient_c=args.ambient_c,
                                 duty=args.duty)
    basis, at = archive_basis(archive_dir(args.config, args.archive), args.asset, args.as_of)
    start = basis.start(at)
    _check_flags(args, start, basis.top_speed_hz())
    horizon = _horizon(args, start)
    result = run_whatif(basis, scenario, now=at, horizon_s=horizon, dates=sorted(set(args.at)),
                        request_id=f"cli-{args.asset}")
    # round 37 (DURABLE37): its text is the archive's (a defect, an asset id: anyone's text, an escape
    # drove the terminal), escaped as twin explain's is; the JSON keeps it exact, escaped by JSON
    print(json.dumps(codec.to_json_dict(result)) if args.json else
          "\n".join(printable(line) for line in render(result).splitlines()))
    return 0


def _check_flags(args: argparse.Namespace, start: datetime, top_speed_hz: float | None) -> None:
    """The flags that depend on the twin (its time, its reference speed), checked here so that
    the one-line error names the flag the user typed (``ValueError``)."""
    from twin_models.whatif import MAX_HORIZON_S, MAX_SPEED_RATIO

    when = start.isoformat()
    if args.until is not None:
        if args.until <= start:
            msg = f"--until {args.until.isoformat()} is not after the twin's time {when}"
            raise ValueError(msg)
        if (args.until - start).total_seconds() > MAX_HORIZON_S:
            days = MAX_HORIZON_S / 86400
            msg = (f"--until {args.until.isoformat()} is more than {days / 365:g} years ({days:g}d) after "
                   f"the twin's time {when}")
            raise ValueError(msg)
    for d in sorted(set(args.at)):
        if d <= start:
            msg = f"--at {d.isoformat()} is not after the twin's time {when}"
            raise ValueError(msg)
    if args.speed_hz is not None and top_speed_hz is not None and args.speed_hz > top_speed_hz:
        msg = (f"--speed-hz {args.speed_hz:g} is above {MAX_SPEED_RATIO:g} x this twin's reference speed "
               f"(at most {top_speed_hz:.4g} Hz)")
        raise ValueError(msg)


def _horizon(args: argparse.Namespace, start: datetime) -> float:
    """The run's length in seconds: to ``--until``, ``--horizon``, else 30 days or to the latest ``--at``
    date if later. A date after an ``--until`` or ``--horizon`` end is refused (round 49, HOSTILE49:
    failures later than the horizon count as never, so such a date was given P(failure within the
    horizon): ``--horizon 1d --at`` a year on said 1 % for a pump failing the next day; without
    ``--horizon``, an ``--at`` past 30 days got the 30 days' P)."""
    from twin_models.whatif import MAX_HORIZON_S

    latest = max(args.at, default=start)
    if args.until is not None or args.horizon:
        horizon = (args.until - start).total_seconds() if args.until is not None else args.horizon
        if latest > (end := start + timedelta(seconds=horizon)):
            how = "--until" if args.until is not None else "--horizon"
            msg = (f"--at {latest.isoformat()} is after the what-if's end {end.isoformat()} ({how}): a "
                   f"failure later than that is not forecast; give --until {latest.isoformat()} or a longer "
                   "--horizon")
            raise ValueError(msg)
        return float(horizon)
    horizon = max(timedelta(days=30).total_seconds(), (latest - start).total_seconds())
    if horizon > MAX_HORIZON_S:
        days = MAX_HORIZON_S / 86400
        msg = f"--at {latest.isoformat()} is more than {days / 365:g} years ({days:g}d) after the twin's time"
        raise ValueError(msg)
    return horizon


WHATIF_COMMANDS: dict[str, Any] = {"whatif": _cmd_whatif}
