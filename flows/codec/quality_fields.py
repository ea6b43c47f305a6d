"""The data-quality record's fields (issue 13): the archive table ``data_quality`` (one row per
change of a channel's state: its first window, then every window whose state or check differs
from the one before), JSON ``channel_quality.v1``."""

from __future__ import annotations

from flows.codec.record_fields import ID, TEXT, TIME, Field, RecordMapping
from twin_models.records import ChannelQuality

__all__ = ["DATA_QUALITY"]

DATA_QUALITY: RecordMapping = RecordMapping(
    ChannelQuality, "channel_quality", "data_quality", (
        Field("asset_id", ID, "The asset (archive: the files' first column)."),
        Field("channel", ID, "The sensor channel."),
        Field("timestamp", TIME, "End of the window judged (the state holds from this window on)."),
        Field("state", TEXT, "ok, suspect (timing: readings missing or mis-stamped; or a drift not yet "
              "confirmed; values kept) or bad (the values are wrong: the channel's features are kept "
              "from the models)."),
        Field("check", TEXT, "flatline, clipping, spike, gap, clock, sample_rate, disconnect or drift; "
              "'' when ok."),
        Field("reason", TEXT, "What the check saw, in words."),
    ),
    columns=("asset_id", "date", "channel", "timestamp", "state", "check", "reason"),
    date_of="timestamp", owner=lambda q: f"data quality of {q.asset_id!r} channel {q.channel!r}",
)
