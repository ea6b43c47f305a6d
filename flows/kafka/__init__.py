"""flows.kafka: Kafka clients made in one place, and the errors that retrying never heals."""
