"""A batch on a real Dask cluster (issue 16, item 4): a ``dask scheduler`` and two ``dask
worker`` processes started here on loopback, 200 small runs of real captures, and every
output byte for byte the serial batch's.

The workers import iodiag from this checkout (PYTHONPATH) as a remote worker imports it from
its own installation. Both batches write only the JSON reports (``--reports json``), which is
what a fleet keeps and what ``diff`` reads; the index, JUnit, SARIF and findings dataset are
written by the client in both cases.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from support import FIXTURES, REPO
from test_batch import assert_same_outputs, iodiag

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

LOGS = FIXTURES / "strace" / "logs"
SMALL = ("small_sh.f_tt_T.log", "truncated_midline.tt_T.log", "signals.f_tt_T.log")
RUNS = 200


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    handle = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [shutil.which("dask") or "dask", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


@pytest.fixture
def cluster(tmp_path: Path):
    if shutil.which("dask") is None:
        pytest.skip("the dask command is not installed")
    address_file = tmp_path / "scheduler.json"
    processes = [
        _start(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(address_file),
            ],
            tmp_path / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert address_file.exists(), (tmp_path / "scheduler.log").read_text()
        import json

        address = json.loads(address_file.read_text())["address"]
        for number in range(2):
            processes.append(
                _start(
                    [
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{number}",
                    ],
                    tmp_path / f"worker{number}.log",
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_a_dask_cluster_gives_the_serial_batch(cluster: str, tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    for number in range(RUNS):
        name = SMALL[number % len(SMALL)]
        shutil.copyfile(LOGS / name, traces / f"run{number:03d}.strace.log")
    common = ("--reports", "json", "--fail-on", "warning", "-q")
    serial = iodiag("batch", traces, "-o", tmp_path / "serial", "-j", "1", *common)
    remote = iodiag("batch", traces, "-o", tmp_path / "dask", "--scheduler", cluster, *common)
    assert remote.returncode == serial.returncode, remote.stderr
    assert remote.stderr == serial.stderr
    assert_same_outputs(tmp_path / "serial", tmp_path / "dask")
    assert len(list((tmp_path / "dask").glob("run*/report.json"))) == RUNS
