"""`python -m riskmon`: the same command line as `riskmon` (handy on Windows, where Scripts/ may not be on PATH)."""

from riskmon.cli import main

main()
