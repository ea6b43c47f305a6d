"""flows.dataflow.sources: the dataflow's inputs (simulator, history files, Kafka)."""
