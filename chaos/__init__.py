"""The chaos suite (`make chaos`): faults injected into the real engine, histories checked.

A history is what the producer sent (and Kafka acknowledged), what the webhook target received,
and what `exec_logs` holds; `history.check` compares them with the executions the offline runner
derives from the same events. The README's "Chaos suite" section shows the table.
"""
