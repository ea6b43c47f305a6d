"""flows.dataflow: the one Bytewax dataflow, its per-item steps, sources and sinks.

- :mod:`.pipeline` — :func:`get_flow`, the dataflow of demo, run and backtest;
- :mod:`.operators` — what each step calls (free of Bytewax, tested directly);
- :mod:`.guard`, :mod:`.admission` — per-item guards and admission rules (failures -> dead letters);
- :mod:`.metrics` — every Prometheus metric; :mod:`.recovery_store` — recovery-store hygiene
  (:mod:`.store_cluster`: the Kafka cluster its offsets belong to);
- :mod:`.sources`, :mod:`.sinks` — connectors (simulator, files, Kafka; archive, JSON lines, Kafka).
"""
