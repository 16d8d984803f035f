"""The bus: Kafka clients, the outbox relay, the idempotent consumer, the embedded broker."""
