"""`python -m analyzer` runs `iodiag-analyze`."""

from analyzer.cli import main

if __name__ == "__main__":
    main()
