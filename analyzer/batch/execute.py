"""Where the runs of a batch are analyzed: one by one, on the local cores, or on a Dask
cluster.

- ``jobs == 1``: in this process, one run after the other (the reference the others must
  equal).
- local (the default, ``--jobs N``, N = the cores): a process pool whose workers fork from a
  server process that imported the pipeline and the renderers once (multiprocessing's
  ``forkserver`` with `analyzer.batch.worker` preloaded), so no run pays for imports. Each
  run parses with one thread: the workers already fill the cores.
- ``--scheduler ADDRESS``: the runs go to an existing Dask distributed cluster
  (``tcp://host:8786``), one task per run; the workers need iodiag installed and must reach
  the inputs and the output folder, which is why both may be fsspec URLs (`storage`).

Results come back in the order of the runs, whatever order they finished in, so every
executor gives the same index. A worker that dies takes only its run down (``failed``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from analyzer.batch.worker import RunTask, analyze_run, empty_summary, warm_up, with_threads
from analyzer.errors import UsageError

__all__ = ["default_jobs", "run_tasks"]

Progress = Callable[[dict[str, Any]], None]


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_tasks(
    tasks: Sequence[RunTask],
    jobs: int,
    scheduler: str | None = None,
    on_done: Progress | None = None,
) -> list[dict[str, Any]]:
    """The summaries of `tasks`, in their order."""
    if scheduler:
        return _on_dask(tasks, scheduler, on_done)
    if jobs <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(analyze_run(task))
            if on_done:
                on_done(results[-1])
        return results
    return _on_pool(tasks, jobs, on_done)


def _failed(task: RunTask, error: BaseException) -> dict[str, Any]:
    reason = f"the worker failed: {type(error).__name__}: {error}"
    return {**empty_summary(task.run), "status": "failed", "reason": reason}


def _on_pool(tasks: Sequence[RunTask], jobs: int, on_done: Progress | None) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["analyzer.batch.worker"])
    workers = min(jobs, len(tasks))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=warm_up) as pool:
        futures: list[Future[dict[str, Any]]] = [
            pool.submit(analyze_run, with_threads(task, 1)) for task in tasks
        ]
        results = []
        for task, future in zip(tasks, futures, strict=True):
            try:
                result = future.result()
            except Exception as error:  # BrokenProcessPool: a worker died (killed, segfault)
                result = _failed(task, error)
            results.append(result)
            if on_done:
                on_done(result)
    return results


def _on_dask(
    tasks: Sequence[RunTask], scheduler: str, on_done: Progress | None
) -> list[dict[str, Any]]:
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'iodiag[dask]'") from None
    try:
        client = Client(scheduler, timeout="30s")
    except OSError as error:
        raise UsageError(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
    with client:
        client.run(warm_up)
        futures = client.map(
            analyze_run,
            [with_threads(task, 1) for task in tasks],
            key=[f"iodiag-run-{number}-{task.run.name}" for number, task in enumerate(tasks)],
            pure=False,
        )
        results = []
        for task, future in zip(tasks, futures, strict=True):
            try:
                result = future.result()
            except Exception as error:  # the worker died, or the task could not run
                result = _failed(task, error)
            results.append(result)
            if on_done:
                on_done(result)
    return results
