"""flows: Bytewax glue and I/O for twinflow, in layers that depend downwards only.

- :mod:`flows.cli` — the ``twin`` command line (parses and checks, prints one-line errors);
- :mod:`flows.app` — the commands (demo, backtest, run, produce, topics, explain, whatif, report);
- :mod:`flows.dataflow` — the one Bytewax dataflow: steps, guards, metrics, sources, sinks;
- :mod:`flows.codec`, :mod:`flows.archive`, :mod:`flows.config`, :mod:`flows.kafka` — the wire
  codec, the archive's read side, the settings tree, Kafka clients and errors.

Depends on twin_models, never the reverse. Nothing here builds a Dataflow at import time.
"""

import flows._early_stop  # noqa: F401 -- first: a stop signal from here on is noted (twin only)
from twin_models.moved_modules import install

FLOWS_MOVES = {
    # old module -> new module (issue 9), for recovery snapshots pickled before the layout
    "flows.cli_args": "flows.cli.args",
    "flows.cli_kafka": "flows.cli.kafka_commands",
    "flows.cli_archive": "flows.cli.archive_commands",
    "flows.cli_stderr": "flows.cli.stderr",
    "flows.sql_output": "flows.cli.sql_output",
    "flows.demo": "flows.app.demo",
    "flows.run": "flows.app.run",
    "flows.backtest": "flows.app.backtest",
    "flows.produce": "flows.app.produce",
    "flows.topics": "flows.app.topics",
    "flows.report": "flows.app.report",
    "flows.report_html": "flows.app.report_html",
    "flows.out_dir": "flows.app.out_dir",
    "flows.losses": "flows.app.losses",
    "flows.pipeline": "flows.dataflow.pipeline",
    "flows.operators": "flows.dataflow.operators",
    "flows.guard": "flows.dataflow.guard",
    "flows.admission": "flows.dataflow.admission",
    "flows.metrics": "flows.dataflow.metrics",
    "flows.recovery_store": "flows.dataflow.recovery_store",
    "flows.sources.files": "flows.dataflow.sources.files",
    "flows.sources.kafka": "flows.dataflow.sources.kafka",
    "flows.sources.readers": "flows.dataflow.sources.readers",
    "flows.sources.replayable": "flows.dataflow.sources.replayable",
    "flows.sources.simulator": "flows.dataflow.sources.simulator",
    "flows.sources": "flows.dataflow.sources",
    "flows.sinks.archive": "flows.dataflow.sinks.archive",
    "flows.sinks.jsonl": "flows.dataflow.sinks.jsonl",
    "flows.sinks.kafka": "flows.dataflow.sinks.kafka",
    "flows.sinks": "flows.dataflow.sinks",
    "flows.serde": "flows.codec",  # DecodeError and the codec functions are re-exported there
    "flows.archive_files": "flows.archive.files",
    "flows.config_tree": "flows.config.tree",
    "flows.config_values": "flows.config.values",
    "flows.kafka_clients": "flows.kafka.clients",
    "flows.kafka_errors": "flows.kafka.errors",
}
install(FLOWS_MOVES)
