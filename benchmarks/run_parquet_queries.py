"""Time and peak RSS of the example queries of docs/parquet.md on a `--format parquet` output.

    python benchmarks/run_parquet_queries.py OUT_DIR               # every query, every engine
    python benchmarks/run_parquet_queries.py OUT_DIR --engines duckdb --repeat 3
    python benchmarks/run_parquet_queries.py OUT_DIR --syscalls 'other/**/*.parquet'
    python benchmarks/run_parquet_queries.py OUT_DIR --replay 12 BIG_DIR --engines duckdb

Each query block of the page runs in a child process of its own (DuckDB SQL through the
duckdb module, the pandas/pyarrow and Polars blocks as written), with the page's placeholders
replaced: ``out/`` by OUT_DIR, the file by the busiest file target of the trace, the time
window by half a second `--window-at` seconds into the trace (a tenth of its span unless
given). For each it prints the wall time, the rows of the answer and the child's peak RSS
(``ru_maxrss`` from `os.wait4`), so a query that loads the dataset whole shows. `--syscalls`
points the SQL queries at other files of the same table (another layout to compare).

``--replay N BIG_DIR`` first writes a larger ``syscalls`` dataset to BIG_DIR with the writer of
``--format parquet`` (`write_table_dataset`), fed a stream of record batches: OUT_DIR's calls N
times over, each copy shifted in time and lines by the trace's span (so the row groups'
statistics stay as a longer trace's would), read one file at a time; it prints the writer's
wall and CPU time and the peak RSS of that process, then runs the queries on BIG_DIR. 12
copies of the 10M-line trace's 8.1M calls make a 98M-call dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "parquet.md"
FILE = "/srv/app/data.db"
WINDOW = ("34200.0", "34200.5")
GLOB = "out/syscalls/**/*.parquet"

RUNNER = """
import json, sys
language, code = sys.argv[1], open(sys.argv[2]).read()
if language == "sql":
    import duckdb
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    rows = len(connection.sql(code).fetchall())
else:
    scope = {}
    exec(code, scope)
    rows = len(scope["result"])
print(json.dumps({"rows": rows}))
"""


def blocks() -> list[tuple[str, str, str]]:
    """(heading, engine, code) of every query block of docs/parquet.md."""
    found = []
    heading = ""
    text = DOC.read_text(encoding="utf-8")
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w+)\n(.*?)^```$", text, re.M | re.S):
        if match[1]:
            heading = match[1]
        elif match[2] == "sql":
            found.append((heading, "duckdb", match[3]))
        elif match[2] == "python":
            engine = "polars" if "import polars" in match[3] else "pandas"
            found.append((heading, engine, match[3]))
    return found


FACTS = """
import duckdb, json, sys
calls = f"read_parquet('{sys.argv[1]}/syscalls/**/*.parquet', hive_partitioning = true)"
connection = duckdb.connect()
connection.execute("SET enable_progress_bar = false")
print(json.dumps(connection.sql(
    f"SELECT (SELECT target FROM {calls} WHERE target_kind = 'file' GROUP BY target "
    f"ORDER BY count(*) DESC LIMIT 1), min(start_s), max(start_s) FROM {calls}"
).fetchall()[0]))
"""


def trace_facts(out: Path, window_at: float | None) -> tuple[str, float]:
    """The busiest file target and the start of the time window (found by a child process:
    this one stays small, as its high-water mark is every child's least peak RSS)."""
    found = subprocess.run(
        [sys.executable, "-c", FACTS, str(out)], check=True, capture_output=True, text=True
    )
    target, first, last = json.loads(found.stdout.splitlines()[-1])
    offset = (last - first) / 10 if window_at is None else window_at
    return target, first + offset


REPLAY = """
import glob, resource, sys, time
from pathlib import Path
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
from analyzer.render.parquet_dataset import write_table_dataset
from analyzer.schema import SYSCALLS

source, copies, target = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
files = sorted(glob.glob(f"{source}/syscalls/**/*.parquet", recursive=True))
first, last, lines = float("inf"), float("-inf"), 0
for file in files:
    for group in pq.ParquetFile(file).metadata.to_dict()["row_groups"]:
        for column in group["columns"]:
            stats = column["statistics"]
            if column["path_in_schema"] == "start_s" and stats and stats["has_min_max"]:
                first, last = min(first, stats["min"]), max(last, stats["max"])
            if column["path_in_schema"] == "line_start" and stats and stats["has_min_max"]:
                lines = max(lines, stats["max"])
span = last - first + 1.0
schema = SYSCALLS.schema


def stream():
    for copy in range(copies):
        for file in files:  # one file at a time: pyarrow's dataset scanner reads far ahead
            for batch in pq.ParquetFile(file).iter_batches(65536, columns=schema.names):
                columns = dict(zip(schema.names, batch.columns))
                for name in ("start_s", "end_s"):
                    columns[name] = pc.add(columns[name], copy * span)
                for name in ("line_start", "line_end"):
                    columns[name] = pc.add(columns[name], copy * lines)
                yield pa.RecordBatch.from_arrays([columns[n] for n in schema.names], schema=schema)


wall, cpu = time.perf_counter(), time.process_time()
written = write_table_dataset(target / "syscalls", stream(), lambda name: 0, schema)
size = sum(path.stat().st_size for path in (target / "syscalls").rglob("*.parquet"))
print(
    f"wrote {written.rows:,} calls in {len(written.files)} files ({size / 2**20:,.0f} MiB): "
    f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
    f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:,} MiB "
    "(reading the copies included)"
)
"""


def run_one(language: str, code: str) -> tuple[float, int, int]:
    """Wall seconds, answer rows and peak RSS (MiB) of one query in a child process."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(code)
    try:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", RUNNER, language, handle.name], stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"query failed:\n{code}")
        return wall, json.loads(output.splitlines()[-1])["rows"], usage.ru_maxrss // 1024
    finally:
        os.unlink(handle.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder --format parquet wrote")
    parser.add_argument("--engines", default="duckdb,pandas,polars")
    parser.add_argument("--only", help="run only the queries whose heading contains this")
    parser.add_argument("--repeat", type=int, default=1, help="runs per query (best is shown)")
    parser.add_argument("--window-at", type=float, help="seconds into the trace")
    parser.add_argument("--syscalls", help="glob of the syscalls files for the SQL queries")
    parser.add_argument("--json", action="store_true", help="results as JSON lines")
    parser.add_argument("--replay", nargs=2, metavar=("N", "BIG_DIR"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.replay:
        copies, big = args.replay
        root = str(Path(__file__).resolve().parents[1])
        environment = {**os.environ, "PYTHONPATH": root}
        subprocess.run(
            [sys.executable, "-c", REPLAY, str(out), copies, big], check=True, env=environment
        )
        out = Path(big).resolve()
    target, low = trace_facts(out, args.window_at)
    engines = args.engines.split(",")
    for heading, engine, code in blocks():
        if engine not in engines or (args.only and args.only not in heading):
            continue
        code = code.replace(FILE, target)
        code = code.replace(WINDOW[0], repr(low)).replace(WINDOW[1], repr(low + 0.5))
        if args.syscalls and engine == "duckdb":
            code = code.replace(GLOB, args.syscalls)
        code = code.replace("out/", f"{out}/")
        runs = [
            run_one("sql" if engine == "duckdb" else "python", code) for _ in range(args.repeat)
        ]
        wall = min(run[0] for run in runs)
        rows = runs[0][1]
        peak = max(run[2] for run in runs)
        if args.json:
            print(
                json.dumps(
                    {
                        "query": heading,
                        "engine": engine,
                        "wall_s": wall,
                        "rows": rows,
                        "peak_rss_mib": peak,
                    }
                )
            )
        else:
            print(f"{heading:40} {engine:7} {wall:7.2f} s {rows:9,} rows {peak:6,} MiB", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
