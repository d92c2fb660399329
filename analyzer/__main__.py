"""`python -m analyzer` runs `iodiag-analyze`."""

from analyzer.cli import main

main()
