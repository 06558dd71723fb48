"""`python -m smart360_etl.cli`: the same command line as `smart360-etl`."""

from . import main

main()
