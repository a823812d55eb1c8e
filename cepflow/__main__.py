"""`python -m cepflow` is the `cepflow` command."""

from cepflow.cli import main

main()
