"""`python -m analyzer` runs `iodiag-analyze`."""

from __future__ import annotations

import sys


def main() -> None:
    """`iodiag-analyze`: ``PERF.txt --format folded`` folds without the pipeline (see
    `analyzer.perf.fold_fast`); every other command line runs the full CLI."""
    from analyzer.perf.fold_fast import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from analyzer.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
