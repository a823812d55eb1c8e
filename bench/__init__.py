"""The benchmark of BENCH.md (`make bench`)."""
