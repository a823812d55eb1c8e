"""Where an action runs: executors, the pipeline, the Bytewax action sink, manual triggers, redrive."""
