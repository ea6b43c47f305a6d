"""flows.app: the application commands, each one dataflow run with its sources and sinks.

- :mod:`.demo`, :mod:`.backtest`, :mod:`.run` — the one dataflow on the simulator, on files, on Kafka;
- :mod:`.produce`, :mod:`.topics` — publish telemetry into Kafka, provision topics;
- :mod:`.report`, :mod:`.report_html` — plots and the HTML report of a backtest;
- :mod:`.out_dir`, :mod:`.losses` — output folders and what a run lost;
- :mod:`.heap` — the process's ``malloc`` settings (freed big arrays reused, not re-faulted).
"""
