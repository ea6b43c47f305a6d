"""flows.dataflow.sinks: the dataflow's outputs (Parquet archive, JSON lines, Kafka)."""
