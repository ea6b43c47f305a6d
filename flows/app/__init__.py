"""flows.app: the application commands: the dataflow runs with their sources and sinks, and the
archive's readers.

- :mod:`.demo`, :mod:`.backtest`, :mod:`.run` — the one dataflow on the simulator, on files, on Kafka;
- :mod:`.produce`, :mod:`.topics` — publish telemetry into Kafka (``twin simulate|replay``),
  provision topics;
- :mod:`.explain`, :mod:`.whatif_archive` — ``twin explain`` and ``twin whatif`` from the archive;
- :mod:`.report`, :mod:`.report_html` — plots and the HTML report of a backtest;
- :mod:`.out_dir`, :mod:`.losses` — output folders and what a run lost;
- :mod:`.heap` — the process's ``malloc`` settings (freed big arrays reused, not re-faulted) and
  its garbage collector's (a raised young threshold, the demo's frozen heap; ``TWIN_GC``).
"""
