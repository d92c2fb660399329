"""speedscope export (``--format speedscope``) on the real perf captures in fixtures/perf.

Checked: the structure speedscope's file format requires (validated against its published JSON
schema when ``jsonschema`` is installed, and by hand always), frame indexes in range, one
profile per event and thread whose samples are that thread's samples and whose weights add up
to their periods, and -- the strongest check -- that summing the weights per stack gives back
the folded stacks of ``--format folded``, which tests/test_perf_collapse.py checks against
stackcollapse-perf.pl byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from analyzer.cli.analyze import app
from analyzer.derive.perf_fold import default_event
from analyzer.pipeline import analyze
from analyzer.render import RENDERERS, SpeedscopeRenderer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"
RESEARCH = FIXTURES / "perf" / "research"
STACK_FILES = [
    *sorted(CORPUS.glob("perf-*.txt")),
    *(
        RESEARCH / name
        for name in (
            "cpu_awkward_comm_callchain.txt",
            "cpu_awkward_comm_nocallchain.txt",
            "cpu_py312_xperf_dwarf.txt",
            "cpu_py312_xperf_fp.header.txt",
            "cpu_py313_perfjit_dwarf.txt",
            "mixed_cpuclock_sched_rawsyscalls.txt",
            "block_rq_issue_complete_callchain.txt",
            "sched_switch_wakeup_pertask_callchain.txt",
            "variants.txt",
        )
    ),
]
SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
UNITS = {"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"}

# speedscope's published schema, file-format-schema.json of jlfwong/speedscope (commit
# e341b0a4), generated from src/lib/file-format-spec.ts; copied here (titles left out) so the
# test needs no network.
SPEEDSCOPE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-06/schema#",
    "$ref": "#/definitions/FileFormat.File",
    "definitions": {
        "FileFormat.File": {
            "type": "object",
            "properties": {
                "$schema": {"type": "string", "enum": [SCHEMA_URL]},
                "shared": {
                    "type": "object",
                    "properties": {
                        "frames": {
                            "type": "array",
                            "items": {"$ref": "#/definitions/FileFormat.Frame"},
                        }
                    },
                    "required": ["frames"],
                },
                "profiles": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            {"$ref": "#/definitions/FileFormat.EventedProfile"},
                            {"$ref": "#/definitions/FileFormat.SampledProfile"},
                        ]
                    },
                },
                "name": {"type": "string"},
                "activeProfileIndex": {"type": "number"},
                "exporter": {"type": "string"},
            },
            "required": ["$schema", "profiles", "shared"],
        },
        "FileFormat.Frame": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "file": {"type": "string"},
                "line": {"type": "number"},
                "col": {"type": "number"},
            },
            "required": ["name"],
        },
        "FileFormat.EventedProfile": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["evented"]},
                "name": {"type": "string"},
                "unit": {"$ref": "#/definitions/FileFormat.ValueUnit"},
                "startValue": {"type": "number"},
                "endValue": {"type": "number"},
                "events": {"type": "array"},
            },
            "required": ["endValue", "events", "name", "startValue", "type", "unit"],
        },
        "FileFormat.SampledProfile": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["sampled"]},
                "name": {"type": "string"},
                "unit": {"$ref": "#/definitions/FileFormat.ValueUnit"},
                "startValue": {"type": "number"},
                "endValue": {"type": "number"},
                "samples": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": "number"}},
                },
                "weights": {"type": "array", "items": {"type": "number"}},
            },
            "required": ["endValue", "name", "samples", "startValue", "type", "unit", "weights"],
        },
        "FileFormat.ValueUnit": {
            "enum": sorted(UNITS),
            "type": "string",
        },
    },
}


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")


def cli(*args: str | Path) -> tuple[int, str, str]:
    run = CliRunner().invoke(app, [str(arg) for arg in args])
    return run.exit_code, run.stdout, run.stderr


@cache
def exported(path: Path) -> tuple[str, dict[str, Any]]:
    code, out, err = cli(path, "--format", "speedscope")
    assert code == 0, err
    return out, json.loads(out)


@cache
def tables(path: Path) -> dict[str, Any]:
    return dict(analyze([str(path)]).tables)


def check_structure(document: dict[str, Any]) -> None:
    """What speedscope's format requires of a file of sampled profiles, checked by hand."""
    assert document["$schema"] == SCHEMA_URL
    frames = document["shared"]["frames"]
    assert isinstance(frames, list) and frames
    for frame in frames:
        assert isinstance(frame["name"], str)
        assert set(frame) <= {"name", "file", "line", "col"}
        assert isinstance(frame.get("file", ""), str)
    keys = [(frame["name"], frame.get("file")) for frame in frames]
    assert len(keys) == len(set(keys)), "frames are shared, never repeated"
    profiles = document["profiles"]
    assert profiles and 0 <= document["activeProfileIndex"] < len(profiles)
    assert isinstance(document["name"], str) and document["exporter"].startswith("iodiag@")
    for profile in profiles:
        assert profile["type"] == "sampled"
        assert isinstance(profile["name"], str) and profile["unit"] in UNITS
        assert len(profile["samples"]) == len(profile["weights"]) > 0
        for stack in profile["samples"]:
            assert all(isinstance(i, int) and 0 <= i < len(frames) for i in stack)
        assert all(isinstance(w, int) and w > 0 for w in profile["weights"])
        assert profile["startValue"] == 0
        assert profile["endValue"] == sum(profile["weights"])


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_file_has_the_speedscope_structure(path: Path) -> None:
    text, document = exported(path)
    check_structure(document)
    assert text.endswith("}\n") and "\n" not in text[:-1]
    names = [profile["name"] for profile in document["profiles"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_file_validates_against_the_published_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(exported(path)[1], SPEEDSCOPE_SCHEMA)


def test_the_schema_check_can_fail() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads(exported(CORPUS / "perf-dd-stacks-01.txt")[0])
    document["profiles"][0]["unit"] = "cycles"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SPEEDSCOPE_SCHEMA)


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_one_profile_per_event_and_thread_holding_its_samples(path: Path) -> None:
    samples = tables(path)["perf_samples"]
    kept = samples.filter(pc.invert(samples["cut"]))
    stacked = set(pc.unique(kept.filter(pc.is_valid(kept["stack_id"]))["event"]).to_pylist())
    expected_samples: Counter[tuple[Any, ...]] = Counter()
    expected_weights: Counter[tuple[Any, ...]] = Counter()
    for row in kept.select(["event", "comm", "pid", "tid", "period"]).to_pylist():
        if row["event"] in stacked:
            key = (row["event"], row["comm"], row["pid"], row["tid"])
            expected_samples[key] += 1
            expected_weights[key] += row["period"] or 1
    profiles = exported(path)[1]["profiles"]
    assert len(profiles) == len(expected_samples)
    got_samples = sorted(len(p["samples"]) for p in profiles)
    got_weights = sorted(sum(p["weights"]) for p in profiles)
    assert got_samples == sorted(expected_samples.values())
    assert got_weights == sorted(expected_weights.values())


def test_sample_count_matches_the_sample_headers_of_the_input() -> None:
    # One event, every sample has a callchain and none is cut: every header line is a sample.
    path = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
    headers = [line for line in path.read_text().splitlines() if line and not line[0].isspace()]
    profiles = exported(path)[1]["profiles"]
    assert sum(len(p["samples"]) for p in profiles) == len(headers) == 205
    assert {p["unit"] for p in profiles} == {"nanoseconds"}
    assert {w for p in profiles for w in p["weights"]} == {5025125}


SCRIPT_READS_OTHERWISE = {
    "cpu_awkward_comm_callchain": "comms with blanks and digits: the script cuts them",
    "cpu_awkward_comm_nocallchain": "right-aligned headers: the script reads them as frames",
    "mixed_cpuclock_sched_rawsyscalls": "tracepoint headers: the script reads no event there",
    "block_rq_issue_complete_callchain": "tracepoint headers: the script reads no event there",
    "sched_switch_wakeup_pertask_callchain": "tracepoint headers: the script reads no event",
    "variants": "headers of every shape, some of which the script reads otherwise",
}
"""Captures that stackcollapse-perf.pl (the folded output's specification) reads otherwise
than perf's grammar, which speedscope follows: their folded output is not speedscope's."""


@pytest.mark.parametrize(
    "path",
    [path for path in STACK_FILES if path.stem not in SCRIPT_READS_OTHERWISE],
    ids=lambda p: p.stem,
)
def test_weights_per_stack_give_back_the_folded_output(path: Path) -> None:
    """Sum each profile's weights per stack of frame names, put the comm in front: the result is
    ``--format folded`` (default options: the first event) line for line."""
    assert _speedscope_folded(path) == cli(path, "--format", "folded")[1]


def _speedscope_folded(path: Path) -> str:
    """The folded lines that speedscope's profiles of the first event give."""
    document = exported(path)[1]
    frames = [frame["name"] for frame in document["shared"]["frames"]]
    samples = tables(path)["perf_samples"]
    first = default_event(samples)
    kept = samples.filter(pc.and_(pc.invert(samples["cut"]), pc.is_valid(samples["stack_id"])))
    several = len(pc.unique(kept["event"])) > 1  # events with stacks get profiles
    comm_of: dict[str, str] = {}
    for row in samples.select(["comm", "pid", "tid", "event"]).to_pylist():
        ids = f"{row['pid']}/{row['tid']}" if row["pid"] is not None else f"{row['tid']}"
        name = f"{row['comm']} ({ids})" if row["comm"] else f"? ({ids})"
        if several:
            name += f" · {row['event']}"
        if row["event"] == first:
            comm_of[name] = (row["comm"] or "").replace(" ", "_")
    folded: Counter[str] = Counter()
    for profile in document["profiles"]:
        if profile["name"] not in comm_of:
            continue
        root = comm_of[profile["name"]]
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            folded[";".join([root, *(frames[i] for i in stack)])] += weight
    return "".join(f"{stack} {folded[stack]}\n" for stack in sorted(folded))


@pytest.mark.parametrize("name", sorted(SCRIPT_READS_OTHERWISE))
def test_the_captures_left_out_above_are_folded_otherwise(name: str) -> None:
    path = next(path for path in STACK_FILES if path.stem == name)
    assert _speedscope_folded(path) != cli(path, "--format", "folded")[1]


def test_profiles_are_named_by_thread_and_event() -> None:
    profiles = exported(RESEARCH / "cpu_awkward_comm_callchain.txt")[1]["profiles"]
    names = {p["name"] for p in profiles}
    assert "io worker 1 (11709)" in names and "[brkt] 7 (11712)" in names
    mixed = exported(RESEARCH / "mixed_cpuclock_sched_rawsyscalls.txt")[1]["profiles"]
    events = [p["name"].rsplit(" · ", 1)[1] for p in mixed]
    # events in order of their first sample, the heaviest thread first within an event
    assert list(dict.fromkeys(events)) == [
        "raw_syscalls:sys_exit",
        "raw_syscalls:sys_enter",
        "sched:sched_switch",
        "cpu-clock/freq=199/",
    ]
    clock = [p for p in mixed if p["name"].endswith("cpu-clock/freq=199/")]
    assert {p["unit"] for p in clock} == {"nanoseconds"}
    assert {p["unit"] for p in mixed if p not in clock} == {"none"}
    for event in dict.fromkeys(events):
        totals = [p["endValue"] for p in mixed if p["name"].endswith(event)]
        assert totals == sorted(totals, reverse=True)


def test_frames_keep_the_dso_as_file() -> None:
    frames = exported(RESEARCH / "cpu_py313_perfjit_dwarf.txt")[1]["shared"]["frames"]
    by_name = {frame["name"]: frame.get("file") for frame in frames}
    assert by_name["do_syscall_64"] == "[kernel.kallsyms]"
    assert by_name["py::fib:/tmp/perfwork/cpu_work.py"] == "/tmp/jitted-9290-433.so"


def test_escaped_names_survive_the_round_trip() -> None:
    # perf-js-stacks-01 has V8 frames named `RegExp:[&<>\\]` and `evalmachine.<anonymous>:1`.
    text, document = exported(CORPUS / "perf-js-stacks-01.txt")
    names = {frame["name"] for frame in document["shared"]["frames"]}
    assert r"RegExp:[&<>\\]" in names
    assert text.isascii()


@pytest.mark.slow
def test_output_is_deterministic_across_processes() -> None:
    path = RESEARCH / "mixed_cpuclock_sched_rawsyscalls.txt"
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        run = subprocess.run(
            [sys.executable, "-m", "analyzer", str(path), "--format", "speedscope"],
            capture_output=True,
            check=True,
            env=env,
            cwd=REPO,
        )
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] == exported(path)[0].encode("ascii")


def test_needs_perf_stacks() -> None:
    assert RENDERERS["speedscope"] is SpeedscopeRenderer
    strace_log = FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log"
    code, _, err = cli(strace_log, "--format", "speedscope")
    assert code == 2 and "needs a perf script input" in err
    code, _, err = cli(RESEARCH / "raw_syscalls_enter_exit.txt", "--format", "speedscope")
    assert code == 2 and "no call stacks" in err
