"""The passes over thread snapshots, py-spy dumps and device/cloud metrics (IOD019-IOD022), on
the incidents whose evidence is strace plus those inputs of the same run, checked against what
the programs measured (truth.json), and on the metrics captures alone."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from pass_fixtures import ROOT

from analyzer import analyze

INCIDENTS = ROOT / "fixtures" / "incidents"
STORAGE = INCIDENTS / "slow_volume_gil_compactor"
THREADS = INCIDENTS / "thread_per_connection_pids_limit"


def truth(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "truth.json").read_text())


def report(folder: Path) -> dict[str, Any]:
    return analyze([folder / name for name in truth(folder)["inputs"]]).report


def line_of(path: Path, number: int) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        for index, text in enumerate(handle, 1):
            if index == number:
                return str(text)
    raise AssertionError(f"{path} has no line {number}")


@pytest.fixture(scope="module")
def storage_report() -> dict[str, Any]:
    return report(STORAGE)


@pytest.fixture(scope="module")
def threads_report() -> dict[str, Any]:
    return report(THREADS)


def test_slow_volume_is_the_first_conclusion(storage_report: dict[str, Any]) -> None:
    measured = truth(STORAGE)["measured"]
    first = storage_report["verdict"]["conclusions"][0]
    finding = storage_report["findings"][first["finding"]]
    assert (first["code"], first["kind"]) == ("IOD022", "slow_device")
    assert first["culprit"]["pid"] == measured["service_pid"]
    assert measured["data_dir"] in first["resource"]["text"]
    evidence = finding["evidence"]
    assert evidence["directory"] == measured["data_dir"]
    assert evidence["threads"] == measured["writer_tids"]
    assert evidence["files"] == len(measured["writer_tids"])  # one journal file per writer
    # strace's fsync and write time, against what the writers timed (their fsync time also
    # holds taking the GIL back after the call)
    timed = measured["fsync_total_s"] + measured["write_total_s"]
    assert 0.5 * timed <= evidence["wait_total_s"] <= timed
    # iostat: the loop device, slow while the writers waited
    device = evidence["device"]
    assert device["device"] == measured["device"]
    assert device["slow"] and device["await_max_ms"] > 100 and device["util_max_pct"] >= 90
    assert device["aqu_sz_max"] >= 1
    assert measured["backing_disk"] in device["other_devices"]
    # top saw the writers in D state, py-spy in the fsync line of writer()
    assert {row["tid"] for row in evidence["d_state"]} <= set(measured["writer_tids"])
    assert evidence["d_state"]
    assert evidence["stacks"] and all(
        row["tid"] in measured["writer_tids"] for row in evidence["stacks"]
    )
    source = (STORAGE / "ledger.py").read_text().splitlines()
    line = int(evidence["stacks"][0]["top"].rsplit(":", 1)[1].rstrip(")"))
    assert "os.fsync(fd)" in source[line - 1]
    # it folds IOD017's conclusion about the directory in, and through it the per-file findings
    explained = {storage_report["findings"][i]["kind"] for i in first["explains"]}
    assert explained == {"slow_storage", "slow_syscall"}


def test_the_storage_conclusion_cites_iostat_top_and_pyspy(storage_report: dict[str, Any]) -> None:
    measured = truth(STORAGE)["measured"]
    first = storage_report["verdict"]["conclusions"][0]
    citations = storage_report["findings"][first["finding"]]["evidence"]["citations"]
    sources = {row["source"] for row in citations}
    assert {"iostat", "top", "pyspy"} <= sources
    for row in citations:
        text = line_of(Path(row["input"]), row["line"])
        if row["source"] == "iostat":
            assert text.startswith(measured["device"] + " ")
        elif row["source"] == "top":
            assert text.split()[0] in {str(tid) for tid in measured["writer_tids"]}
            assert text.split()[7] == "D"
        else:
            assert text.startswith("Thread ") and "journal-writer" in text
    assert "iostat.x_t_y_1.txt:" in first["message"] and "top.H_b_d1_p.txt:" in first["message"]


def test_the_gil_holder_is_named_with_top_and_pyspy(storage_report: dict[str, Any]) -> None:
    measured = truth(STORAGE)["measured"]
    second = storage_report["verdict"]["conclusions"][1]
    finding = storage_report["findings"][second["finding"]]
    assert (second["code"], second["kind"]) == ("IOD021", "gil_contention")
    assert second["culprit"]["tid"] == measured["gil_holder_tid"]
    assert second["culprit"]["name"] == measured["gil_holder_name"]
    evidence = finding["evidence"]
    assert (
        evidence["cpu"]["source"] == "top" and evidence["cpu"]["tid"] == measured["gil_holder_tid"]
    )
    assert evidence["cpu"]["states"].get("R", 0) >= evidence["cpu"]["samples"] // 2
    spy = evidence["pyspy"]
    assert spy["name"] == measured["gil_holder_name"] and spy["held_gil"] >= 1
    source = (STORAGE / "ledger.py").read_text().splitlines()
    line = int(spy["top"].rsplit(":", 1)[1].rstrip(")"))
    assert "ACCOUNT_RE.sub" in source[line - 1]
    # the strace-only GIL finding and IOD005's convoy on the GIL's futex are folded into it
    folded = [storage_report["findings"][i] for i in second["explains"]]
    assert {f["code"] for f in folded} >= {"IOD013"}
    # its longest hold against the compactor's longest regex call
    assert evidence["longest_stretch_s"] <= measured["compaction_max_s"] + 0.05


def test_the_inputs_line_up_with_the_trace(storage_report: dict[str, Any]) -> None:
    (finding,) = [f for f in storage_report["findings"] if f["kind"] == "timeline"]
    alignments = {Path(a["input"]).name: a for a in finding["evidence"]["alignments"]}
    assert all(a["aligned"] for a in alignments.values())
    # the capture machine runs in UTC (VERSIONS.txt): top's time of day is strace -tt's
    top = alignments["top.H_b_d1_p.txt"]
    assert (top["offset_s"], top["method"]) == (0.0, "same local clock")
    # py-spy's date lines print their zone: exact, minus the day's midnight
    spy = alignments["pyspy.dump_nonblocking_loop.txt"]
    first_request = min(r["start_epoch"] for r in truth(STORAGE)["measured"]["per_request"])
    assert spy["offset_s"] == -(first_request // 86400) * 86400
    assert spy["method"].startswith("zone from") and spy["zone_offset_s"] == 0.0
    iostat = alignments["iostat.x_t_y_1.txt"]
    assert iostat["offset_s"] == spy["offset_s"] and iostat["overlap_s"] > 10


def test_thread_exhaustion_is_confirmed_by_the_thread_counts(
    threads_report: dict[str, Any],
) -> None:
    measured = truth(THREADS)["measured"]
    first = threads_report["verdict"]["conclusions"][0]
    finding = threads_report["findings"][first["finding"]]
    assert (first["code"], first["kind"]) == ("IOD020", "thread_exhaustion")
    assert first["culprit"]["pid"] == measured["pid"]
    assert "pids.max (40" in first["resource"]["text"]
    evidence = finding["evidence"]
    assert evidence["failures"] == measured["refusals"] == measured["pids_events_max"]
    assert set(evidence["confirmed_by"]) == {"ps", "top"}
    assert evidence["count_at_refusal"] == measured["nlwp_at_first_refusal"]
    assert evidence["count_peak"] == measured["nlwp_peak"] == measured["pids_max"]
    # every count iodiag read lies between what the relay's own monitor (Threads: every
    # 50 ms) saw just before and just after it; top prints whole seconds
    timeline = measured["nlwp_timeline"]

    def seen_at(when: float) -> int:
        counts = [count for at, count in timeline if at <= when]
        return counts[-1] if counts else timeline[0][1]

    for row in evidence["thread_counts"]:
        slack = 1.0 if row["input"].endswith("top.H_b_d05_p.txt") else 0.2
        low, high = seen_at(row["at"] - slack), seen_at(row["at"] + slack)
        assert min(low, high) - 1 <= row["count"] <= max(low, high) + 1, row
    for row in evidence["citations"]:
        text = line_of(Path(row["input"]), row["line"])
        if row["source"] == "ps_threads":
            assert text.strip().replace(".", "").isdigit() or str(measured["pid"]) in text
    # the strace-only finding is folded into it
    folded = [threads_report["findings"][i] for i in first["explains"]]
    assert [f["code"] for f in folded] == ["IOD006"]


def test_thread_growth_alone_from_the_ps_capture() -> None:
    """Without strace, the same ps loop shows the growth as a warning-free growth finding."""
    result = analyze(THREADS / "ps.L_o_loop.txt").report
    (growth,) = [f for f in result["findings"] if f["kind"] == "thread_growth"]
    measured = truth(THREADS)["measured"]
    assert growth["pid"] == measured["pid"]
    assert growth["evidence"]["count_peak"] == measured["nlwp_peak"]
    assert growth["severity"] == "info"  # +38: below the warning's 100


def test_cloudwatch_alone_reports_the_drained_volume() -> None:
    folder = ROOT / "fixtures" / "cloudwatch"
    series = json.loads((folder / "truth.json").read_text())["series"]
    result = analyze(folder / "get_metric_data_ebs_throttle.json").report
    (finding,) = [f for f in result["findings"] if f["kind"] == "slow_device"]
    assert finding["severity"] == "warning"
    cloud = {row["metric"]: row for row in finding["evidence"]["cloud"]}
    assert cloud["BurstBalance"]["worst"] == min(series["BurstBalance"])
    assert cloud["BurstBalance"]["periods_past_limit"] == sum(
        value <= 20 for value in series["BurstBalance"]
    )
    assert cloud["VolumeQueueLength"]["worst"] == max(series["VolumeQueueLength"])
    for row in finding["evidence"]["citations"]:
        text = line_of(folder / "get_metric_data_ebs_throttle.json", row["line"])
        assert text.strip().startswith('"2026-')


def test_strace_alone_the_timeline_and_snapshot_passes_are_silent() -> None:
    """IOD019-IOD022 need snapshot or metrics inputs: from strace alone the storage conclusion
    is IOD017's (executor_slow_storage: 12 blobs written and fsynced by 6 executor threads)."""
    folder = INCIDENTS / "executor_slow_storage"
    measured = truth(folder)["measured"]
    result = analyze(folder / "strace.f_tt_T_yy.log.gz").report
    codes = {f["code"] for f in result["findings"]}
    assert not codes & {"IOD019", "IOD020", "IOD021", "IOD022"}
    first = result["verdict"]["conclusions"][0]
    assert (first["code"], first["kind"]) == ("IOD017", "slow_storage")
    assert result["findings"][first["finding"]]["evidence"]["directory"] == measured["blob_root"]
    assert first["culprit"]["pid"] == measured["service_pid"]


def test_a_database_and_its_journal_are_not_slow_storage() -> None:
    """sqlite_writers: fdatasync waits on one database and its journal are the lock's story
    (the golden holds its verdict), not a slow device."""
    log = ROOT / "fixtures" / "diagnosis" / "logs" / "sqlite_writers.f_tt_T.log"
    result = analyze(log).report
    assert not [f for f in result["findings"] if f["kind"] in ("slow_storage", "slow_device")]


@pytest.mark.parametrize(
    "relative",
    ["top/captures/top_H_b_d1_n6_p.txt", "pidstat/captures/pidstat_t_u_w_p_1_5.txt"],
)
def test_the_cpu_burning_thread_is_hot(relative: str) -> None:
    """The snapshot workloads' CPU thread (role ``cpu`` in workload.measured.json) is named,
    with the line of its peak %CPU."""
    path = ROOT / "fixtures" / relative
    measured = json.loads((path.parent / "workload.measured.json").read_text())
    (burner,) = [thread for thread in measured["threads"] if thread["role"] == "cpu"]
    result = analyze(path).report
    hot = {f["tid"]: f for f in result["findings"] if f["kind"] == "hot_thread"}
    assert burner["tid"] in hot
    finding = hot[burner["tid"]]
    assert finding["culprit"]["tid"] == burner["tid"] and finding["severity"] == "info"
    (cited,) = finding["evidence"]["citations"]
    assert line_of(path, cited["line"]).split()[0 if "top" in relative else 3] == str(burner["tid"])
