"""`python -m tongtu.cli`, as the tests and benchmarks run it."""

from tongtu.cli import main

main()
