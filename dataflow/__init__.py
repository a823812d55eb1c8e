"""Where an event goes and where a rule is evaluated: routing, detection, Kafka adapters."""
