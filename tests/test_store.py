"""The work directory's mapped tables: read in place, and what a stage touched given back."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analyzer import store


def _file_pages_mib() -> float:
    return store._file_pages_kib() / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux only")
def test_a_page_watch_gives_back_the_pages_of_a_mapped_table(tmp_path: Path) -> None:
    path = tmp_path / "calls.arrow"
    values = np.arange(8 << 20, dtype=np.int64)  # 64 MiB in 8 chunks of 8 MiB
    with pa.ipc.new_file(str(path), pa.schema([("x", pa.int64())])) as writer:
        writer.write_table(pa.table({"x": values}), max_chunksize=1 << 20)
    with store.work_dir(tmp_path / "work") as directory:
        mapped = store.map_table(path)
        assert len(directory.mapped) == 1
        before = _file_pages_mib()
        with store.PageWatch(directory, budget_mib=12, interval_s=0.005) as watch:
            total = 0
            for chunk in mapped["x"].chunks:
                total += int(chunk.to_numpy().sum())
                time.sleep(0.05)
        assert watch.releases > 0
        assert _file_pages_mib() - before < 32  # all 64 MiB were read
        assert total == int(values.sum())  # pages given back are read again
        assert int(pa.compute.sum(mapped["x"]).as_py()) == int(values.sum())
