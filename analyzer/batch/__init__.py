"""Batches: many runs analyzed at once, each with its own reports, and an index of them.

A **run** is the files of one capture (the strace log, the asyncio log and the perf dump of
one service over one time); a **batch** is many runs. ``iodiag-analyze batch`` finds the
runs (`discover`), analyzes each one alone (`worker.analyze_run`, in a process pool or on a
Dask cluster: `execute`), writes every run's reports, and indexes them (`index`).
``iodiag-analyze diff`` compares two runs or two batches (`diff`).

Nothing here is imported by ``iodiag-analyze FILE...``: the one-run command stays as it was.
"""

from __future__ import annotations
