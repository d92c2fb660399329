"""IOD017 slow_storage on real captures, checked against what the programs measured, and on
hand-built rows (marked) for the grouping rules the captures do not show."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import pytest
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, hand_built, inputs_of

from analyzer import verdict
from analyzer.passes import PassConfig, PassInputs, run_passes, slow_storage, slow_syscall
from analyzer.passes.base import Finding, Resource

INCIDENTS = ROOT / "fixtures" / "incidents"
SLOW_STORAGE = INCIDENTS / "executor_slow_storage"


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text())


def _op(finding: Finding, op: str) -> dict:
    return next(row for row in finding.evidence["operations"] if row["op"] == op)


def _with_resources(findings: list[Finding]) -> list[Finding]:
    """IOD001 findings with the resource IOD001 names (its evidence target), as the
    verdict sees them."""
    return [
        dataclasses.replace(
            f, resource=Resource(f.evidence["target_kind"], f.evidence["target"], "")
        )
        if f.kind == "slow_syscall" and f.resource is None and f.evidence.get("target")
        else f
        for f in findings
    ]


@pytest.fixture(scope="module")
def executor_storage() -> tuple[PassInputs, list[Finding]]:
    inputs = inputs_of(SLOW_STORAGE / "strace.f_tt_T_yy.log.gz")
    return inputs, run_passes(inputs)


def test_many_blob_files_are_one_slow_storage_finding(
    executor_storage: tuple[PassInputs, list[Finding]],
) -> None:
    measured = _truth(SLOW_STORAGE)["measured"]
    _, findings = executor_storage
    (finding,) = [f for f in findings if f.kind == "slow_storage"]
    assert finding.code == "IOD017" and finding.severity == "error"
    assert finding.evidence["directory"] == measured["blob_root"]
    assert finding.resource is not None and finding.resource.kind == "directory"
    assert finding.resource.key == measured["blob_root"]
    assert finding.culprit is not None and finding.culprit.pid == measured["service_pid"]
    assert finding.culprit.name == "blobstore.py"
    # the blob fsyncs: one per save, as long as the program timed them
    fsync = _op(finding, "flush")
    assert fsync["calls"] == measured["saves"]
    assert fsync["total_s"] == pytest.approx(measured["fsync_total_s"], abs=0.05)
    assert fsync["max_s"] == pytest.approx(measured["fsync_max_s"], abs=0.005)
    median = statistics.median(save["fsync_s"] for save in measured["per_save"])
    assert fsync["p50_s"] == pytest.approx(median, abs=0.01)
    # the directory fsyncs are told apart, and the writes took what the program saw or less
    directory = _op(finding, "dir_flush")
    assert directory["calls"] == measured["saves"]
    assert directory["total_s"] <= measured["dir_fsync_total_s"]
    write = _op(finding, "write")
    assert write["calls"] == measured["saves"]
    assert write["total_s"] <= measured["write_total_s"]
    # the executor's threads, all waiting at once
    waiting = {t["tid"] for t in finding.evidence["threads"]} & set(measured["executor_tids"])
    assert waiting == set(measured["executor_tids"])
    assert finding.evidence["waiting_threads"] == measured["default_executor_max_workers"]
    assert finding.evidence["peak_in_flight"] == measured["peak_saves_in_flight"]
    assert finding.evidence["files"] == measured["saves"]
    assert finding.cost_s == pytest.approx(
        measured["fsync_total_s"] + measured["write_total_s"], abs=0.1
    )
    assert "iostat -x" in finding.fix and "group commit" in finding.fix


def test_the_per_file_findings_fold_into_the_storage(
    executor_storage: tuple[PassInputs, list[Finding]],
) -> None:
    measured = _truth(SLOW_STORAGE)["measured"]
    inputs, _ = executor_storage
    earlier = _with_resources(slow_syscall.run(inputs, PassConfig()))
    fsyncs = [f for f in earlier if f.evidence["syscall"] == "fsync"]
    assert len(fsyncs) == measured["saves"]
    (storage,) = slow_storage.run(dataclasses.replace(inputs, earlier=tuple(earlier)), PassConfig())
    explained = {rule.key for rule in storage.explains if rule.kind == "slow_syscall"}
    assert {f.evidence["target"] for f in fsyncs} <= explained
    assert not any(rule.adds_cost for rule in storage.explains)
    conclusions = verdict.verdict([*earlier, storage])["conclusions"]
    assert [c["kind"] for c in conclusions] == ["slow_storage"]
    assert conclusions[0]["cost_s"] == pytest.approx(storage.cost_s)


def test_a_writer_bound_by_quick_fsyncs_is_reported_as_bound_by_its_storage() -> None:
    measured = json.loads((DIAGNOSIS_LOGS / "fsync_writer.f_tt_T.measured.json").read_text())
    findings = slow_storage.run(inputs_of(DIAGNOSIS_LOGS / "fsync_writer.f_tt_T.log"), PassConfig())
    (finding,) = findings
    assert finding.evidence["directory"] == measured["dir"]
    assert finding.culprit is not None
    assert (finding.culprit.pid, finding.culprit.tid) == (measured["pid"], measured["tid"])
    assert finding.culprit.name == measured["program"]
    fsync = _op(finding, "flush")
    assert fsync["calls"] == measured["fsync"]["count"]
    assert fsync["total_s"] == pytest.approx(measured["fsync"]["total_s"], rel=0.1)
    assert fsync["p50_s"] == pytest.approx(measured["fsync"]["p50_s"], rel=0.2)
    assert finding.evidence["slow_calls"] == 0
    # the program measured fsync at 92% of its loop: the thread is bound by its storage
    assert measured["fsync"]["total_s"] / measured["loop_wall_s"] > 0.9
    assert finding.evidence["share_of_thread_time"] > 0.75
    assert finding.title.startswith("Bound by storage under /var/tmp")


@pytest.mark.parametrize(
    "trace",
    [
        INCIDENTS / "healthy_asyncio_api" / "strace.f_tt_T.log.gz",
        DIAGNOSIS_LOGS / "sqlite_writers.f_tt_T.log",
        DIAGNOSIS_LOGS / "asyncio_server.f_tt_T.log",
    ],
    ids=["healthy_quick_fsyncs", "sqlite_commits", "loop_reads_a_file"],
)
def test_quick_or_loop_owned_file_io_stays_quiet(trace: Path) -> None:
    findings = run_passes(inputs_of(trace))
    assert [f for f in findings if f.kind == "slow_storage"] == []


# Hand-built rows (not captures) below.


def _call(
    tid: int,
    start: float,
    syscall: str,
    duration: float,
    target: str | None,
    args: str = "",
    pid: int = 100,
) -> dict:
    return {
        "tid": tid,
        "pid": pid,
        "syscall": syscall,
        "start_s": start,
        "end_s": start + duration,
        "duration_s": duration,
        "target": target,
        "target_kind": "file" if target else None,
        "fd": 3 if target else None,
        "args": args,
        "line_start": int(start * 1000) + tid,
        "status": "complete",
    }


def test_hand_built_slow_files_in_unrelated_trees_are_separate_storages() -> None:
    rows = [
        _call(1, 0.0, "fsync", 0.5, "/srv/blobs/ab/1.bin"),
        _call(2, 0.1, "fsync", 0.6, "/srv/blobs/cd/2.bin"),
        _call(3, 0.2, "fsync", 0.2, "/var/lib/db/journal"),
        _call(3, 0.5, "read", 0.0001, "/etc/app.conf"),
    ]
    findings = slow_storage.run(hand_built(rows), PassConfig())
    assert [f.evidence["directory"] for f in findings] == ["/srv/blobs", "/var/lib/db"]
    assert findings[0].cost_s == pytest.approx(1.1)
    assert findings[0].evidence["files"] == 2 and findings[0].evidence["directories"] == 2
    assert findings[0].evidence["peak_in_flight"] == 2


def test_hand_built_a_few_quick_fsyncs_stay_quiet() -> None:
    rows = [_call(1, i * 1.0, "fsync", 0.004, "/var/lib/app/state") for i in range(10)]
    assert slow_storage.run(hand_built(rows), PassConfig()) == []


def test_hand_built_the_device_from_stat_groups_directories_apart() -> None:
    rows = [
        _call(1, 0.0, "newfstatat", 0.0001, "/data/a/x", "3</data/a/x>, \"\", "
              "{st_dev=makedev(0xfe, 0x1), st_ino=12, ...}, AT_EMPTY_PATH"),
        _call(1, 0.1, "newfstatat", 0.0001, "/mnt/b/y", "3</mnt/b/y>, \"\", "
              "{st_dev=makedev(0xfe, 0x1), st_ino=13, ...}, AT_EMPTY_PATH"),
        _call(1, 0.2, "fdatasync", 0.4, "/data/a/x"),
        _call(2, 0.3, "fdatasync", 0.3, "/mnt/b/y"),
    ]  # fmt: skip
    (finding,) = slow_storage.run(hand_built(rows), PassConfig())
    assert finding.evidence["devices"] == ["254:1"]
    assert finding.evidence["directory"] == "/"
    assert "device 254:1" in finding.resource.text  # type: ignore[union-attr]
    assert _op(finding, "flush")["syscalls"] == ["fdatasync"]


def test_hand_built_a_mount_table_names_the_filesystem() -> None:
    table = (
        '3</proc/self/mountinfo>, "22 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\\n'
        '40 22 0:45 / /mnt/nfs rw - nfs4 server:/export rw,vers=4.2\\n", 4096'
    )
    rows = [
        _call(1, 0.0, "read", 0.0001, "/proc/self/mountinfo", table),
        _call(1, 0.1, "openat", 0.3, "/mnt/nfs/shared/a.lock"),
        _call(2, 0.2, "unlink", 0.4, "/mnt/nfs/shared/b.tmp"),
    ]
    (finding,) = slow_storage.run(hand_built(rows), PassConfig())
    assert finding.evidence["mount"]["fstype"] == "nfs4"
    assert finding.evidence["directory"] == "/mnt/nfs/shared"
    assert finding.resource is not None and "server:/export" in finding.resource.text
    assert "Metadata calls" in finding.fix


def test_hand_built_a_directory_fsync_is_told_apart() -> None:
    opened = 'AT_FDCWD, "/srv/q/d1", O_RDONLY|O_DIRECTORY'
    rows = [
        _call(1, 0.0, "openat", 0.0001, "/srv/q/d1", opened),  # a directory: O_DIRECTORY
        _call(1, 0.1, "fsync", 0.3, "/srv/q/d1"),
        _call(1, 0.5, "fsync", 0.2, "/srv/q/f"),
        _call(1, 0.8, "fsync", 0.15, "/srv/q/d2"),  # a directory: the parent of a file
        _call(1, 0.99, "unlink", 0.001, "/srv/q/d2/old"),
    ]
    (finding,) = slow_storage.run(hand_built(rows), PassConfig())
    assert _op(finding, "dir_flush")["total_s"] == pytest.approx(0.45)
    assert _op(finding, "flush")["total_s"] == pytest.approx(0.2)


def test_hand_built_an_event_loops_file_io_is_left_to_blocked_loop() -> None:
    rows = [_call(7, 0.0, "fsync", 0.5, "/srv/data/f"), _call(8, 0.1, "fsync", 0.4, "/srv/data/g")]
    inputs = hand_built(rows)
    loop = Finding("IOD002", "blocked_loop", "error", "t", "m", {"loop_tid": 7}, input="hand-built")
    (finding,) = slow_storage.run(dataclasses.replace(inputs, earlier=(loop,)), PassConfig())
    assert finding.cost_s == pytest.approx(0.4)
    assert finding.evidence["loop_threads_excluded"] == [7]
    assert [t["tid"] for t in finding.evidence["threads"]] == [8]


def test_hand_built_a_thread_bound_by_fsyncs_without_a_slow_one_is_reported() -> None:
    rows = []
    for i in range(100):
        rows.append(_call(1, i * 0.01, "write", 0.0001, "/var/spool/q/log"))
        rows.append(_call(1, i * 0.01 + 0.0002, "fdatasync", 0.006, "/var/spool/q/log"))
    (finding,) = slow_storage.run(hand_built(rows, last_s=1.0), PassConfig())
    assert finding.severity == "error"  # 61% of the thread's time
    assert finding.evidence["slow_calls"] == 0
    assert finding.title.startswith("Bound by storage under /var/spool/q")
    # the same flushes spread over ten times the time are not a problem
    spread = [dict(row, start_s=row["start_s"] * 10) for row in rows]
    assert slow_storage.run(hand_built(spread, last_s=10.0), PassConfig()) == []


def test_mount_table_parses_mountinfo_and_proc_mounts() -> None:
    info = '3, "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\\n", 64'
    mounts = '3, "/dev/vda1 / ext4 rw,relatime 0 0\\ntmpfs /run tmpfs rw 0 0\\n", 64'
    assert slow_storage.mount_table([("/proc/self/mountinfo", info)]) == [
        {"mount": "/mnt2", "dev": "98:0", "fstype": "ext3", "source": "/dev/root"}
    ]
    parsed = slow_storage.mount_table([("/proc/mounts", mounts)])
    assert [m["mount"] for m in parsed] == ["/run", "/"]


def test_common_directory() -> None:
    assert slow_storage.common_directory(["/a/b/c", "/a/b/d"]) == "/a/b"
    assert slow_storage.common_directory(["/a/b"]) == "/a/b"
    assert slow_storage.common_directory(["/a", "/b"]) == "/"


@pytest.mark.parametrize(("size", "slow"), [(56_000_000, False), (4096, True)])
def test_hand_built_a_big_write_is_much_data_not_slow_storage(size: int, slow: bool) -> None:
    """Hand-built, as fixtures/blind/gil_json_snapshot: one write of 56 MB that takes 0.31 s
    moved 180 MB/s, faster than `TRANSFER_BYTES_PER_S`: no slow storage. The control: the
    same 0.31 s for one 4 KiB write is a wait on the storage."""
    rows = [
        _call(1, 0.0, "openat", 0.0001, "/var/lib/app/book.json.tmp"),
        _call(1, 0.01, "write", 0.31, "/var/lib/app/book.json.tmp") | {"retval": size},
        _call(1, 0.4, "rename", 0.0001, "/var/lib/app/book.json.tmp"),
        _call(1, 3.0, "close", 0.0001, None),
    ]
    findings = slow_storage.run(hand_built(rows), PassConfig())
    assert bool(findings) is slow
