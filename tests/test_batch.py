"""``iodiag-analyze batch`` (issue 16): runs found by the documented rule, each with its own
reports, an index in JSON, Markdown and HTML, exit codes, and the CI outputs validated with
real validators (xmlschema against the JUnit XSD, jsonschema against the SARIF 2.1.0 schema;
both schemas in tests/data with their provenance).

The batch is a folder laid out from real captures of fixtures/ (nothing hand-written but the
one file that is meant not to be a trace); the commands run as a user runs them, through
``python -m analyzer`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from support import FIXTURES, REPO

from analyzer.batch.discover import discover, stem_of
from analyzer.batch.index import index_document, index_markdown
from analyzer.render.ci import COMMENT_LIMIT, fit_comment

DATA = Path(__file__).resolve().parent / "data"
LOGS = FIXTURES / "strace" / "logs"
REGEX = FIXTURES / "incidents" / "regex_on_loop"


def iodiag(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``iodiag-analyze ARGS`` as a user runs it (the console script's module)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


def make_batch(root: Path, broken: bool = True) -> Path:
    """traces/: two stem runs (pool, svc), a folder run (loop: strace + asyncio log + perf of
    one incident, with its README and truth.json, which are not inputs) and, with `broken`,
    a file that is no trace (its run is unreadable)."""
    traces = root / "traces"
    traces.mkdir(parents=True)
    shutil.copyfile(LOGS / "pool8.f_tt_T.log", traces / "pool.strace.log")
    shutil.copyfile(LOGS / "small_sh.f_tt_T.log", traces / "svc.strace.log")
    loop = traces / "loop"
    loop.mkdir()
    for name in ("strace.f_tt_T.log.gz", "app.basicconfig.log", "perf.cpu_g.txt.gz"):
        shutil.copyfile(REGEX / name, loop / name)
    shutil.copyfile(REGEX / "README.md", loop / "README.md")
    shutil.copyfile(REGEX / "truth.json", loop / "truth.json")
    if broken:
        # Hand-written: a file in the folder that no source recognises.
        (traces / "broken.log").write_text("this is not a trace\n", encoding="utf-8")
    return traces


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("batch")
    traces = make_batch(root)
    result = iodiag("batch", traces, "--out-dir", root / "out", "--fail-on", "error", "-j", "2")
    return root / "out", result


# --------------------------------------------------------------------------- discovery


def test_stems_group_files_of_one_folder(tmp_path: Path) -> None:
    for name in ("svc.strace.log", "svc.perf.txt", "svc.app.log", "api.log.gz", "x.log.1"):
        (tmp_path / name).write_text("")
    (tmp_path / "x.log.2").write_text("")
    (tmp_path / "notes.md").write_text("")  # not a trace by its name
    (tmp_path / ".hidden.log").write_text("")
    runs = {run.name: run for run in discover([str(tmp_path)])}
    assert sorted(runs) == ["api", "svc", "x"]
    assert [Path(p).name for p in runs["svc"].inputs] == [
        "svc.app.log",
        "svc.perf.txt",
        "svc.strace.log",
    ]
    assert [Path(p).name for p in runs["x"].inputs] == ["x.log.1", "x.log.2"]
    assert stem_of("strace.f_tt_T.log.gz") == "strace"


def test_sub_folders_are_runs_and_duplicates_are_read_once(tmp_path: Path) -> None:
    for host in ("a", "b"):
        (tmp_path / "caps" / host / "deep").mkdir(parents=True)
        (tmp_path / "caps" / host / "strace.log").write_text("")
        (tmp_path / "caps" / host / "app.log").write_text("")
        (tmp_path / "caps" / host / "deep" / "perf.txt").write_text("")
    trace = tmp_path / "caps" / "a" / "strace.log"
    runs = discover([str(tmp_path / "caps"), str(trace), str(tmp_path / "caps" / "*" / "app.log")])
    assert [run.name for run in runs] == ["a", "b"]
    assert [run.kind for run in runs] == ["folder", "folder"]
    assert len(runs[0].inputs) == 3  # the strace log named twice is read once
    assert str(trace) in runs[0].named  # named on the command line: never skipped


def test_same_stem_in_two_folders_and_missing_arguments(tmp_path: Path) -> None:
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "svc.log").write_text("")
    runs = discover([str(tmp_path / "x" / "svc.log"), str(tmp_path / "y" / "svc.log")])
    assert [run.name for run in runs] == ["x/svc", "y/svc"]
    missing = discover([str(tmp_path / "nothing-*.log"), str(tmp_path / "gone.log")])
    assert {run.reason for run in missing} == {"matches no file", "no such file or folder"}


# --------------------------------------------------------------------------- the batch


@pytest.mark.slow
def test_every_run_gets_reports_and_the_unreadable_one_is_listed(batch) -> None:
    out, result = batch
    assert result.returncode == 2, result.stderr  # a run is unreadable
    index = json.loads((out / "index.json").read_text())
    assert index["schema"] == "iodiag.batch/1"
    runs = {run["name"]: run for run in index["runs"]}
    assert sorted(runs) == ["broken", "loop", "pool", "svc"]
    assert runs["broken"]["status"] == "unreadable"
    assert "recognised" in runs["broken"]["reason"]
    assert "iodiag-analyze: broken:" in result.stderr
    for name in ("loop", "pool", "svc"):
        assert runs[name]["status"] == "ok"
        for form, path in runs[name]["reports"].items():
            text = (out / path).read_text()
            assert text, form
        report = json.loads((out / runs[name]["reports"]["json"]).read_text())
        assert report["schema"] == "iodiag.report/1"
    loop = runs["loop"]
    states = {Path(item["path"]).name: item["state"] for item in loop["inputs"]}
    assert states == {
        "app.basicconfig.log": "read",
        "perf.cpu_g.txt.gz": "read",
        "strace.f_tt_T.log.gz": "read",
        "truth.json": "skipped",
    }  # README.md is no input by its name
    assert loop["verdict"]["code"] == "IOD002"  # the incident's root cause: blocked_loop
    assert loop["worst"] == "error" and loop["cost_s"] > 2
    assert runs["svc"]["verdict"] is None
    # One run alone, as `iodiag-analyze FILE` would: the pool trace's counts are its own.
    alone = json.loads(iodiag(LOGS / "pool8.f_tt_T.log", "--format", "json").stdout)
    pool = json.loads((out / "pool" / "report.json").read_text())
    assert pool["syscalls"] == alone["syscalls"]
    assert pool["findings"] == [
        {**finding, "input": pool["inputs"][0]["path"]} if finding["input"] else finding
        for finding in alone["findings"]
    ]


@pytest.mark.slow
def test_fail_on_lists_the_findings_with_their_run(batch) -> None:
    _out, result = batch
    assert "--fail-on error:" in result.stderr
    assert "  pool: IOD004 error:" in result.stderr
    assert "  loop: IOD002 error:" in result.stderr


@pytest.mark.slow
def test_exit_codes_without_an_unreadable_run(tmp_path: Path) -> None:
    traces = make_batch(tmp_path, broken=False)
    (traces / "loop").rename(tmp_path / "loop")  # keep the batch small
    met = iodiag("batch", traces, "-o", tmp_path / "a", "--fail-on", "error", "--reports", "json")
    assert met.returncode == 1, met.stderr
    assert "pool: IOD004 error" in met.stderr
    quiet = iodiag("batch", traces / "svc.strace.log", "-o", tmp_path / "b", "--fail-on", "error")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    never = iodiag("batch", traces, "-o", tmp_path / "c", "--reports", "json")
    assert never.returncode == 0, never.stderr


@pytest.mark.slow
def test_index_markdown_and_html(batch) -> None:
    out, _ = batch
    markdown = (out / "index.md").read_text()
    assert len(markdown) <= COMMENT_LIMIT
    assert "| run | status | worst | verdict #1 | cost | inputs | reports |" in markdown
    assert "[html](loop/report.html)" in markdown
    html = (out / "index.html").read_text()
    assert 'class="sortable"' in html and "<script>" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing from a CDN
    assert "https://" not in html
    for name in ("loop", "pool", "svc", "broken"):
        assert f'data-sort="{name}"' in html


def test_markdown_for_a_comment_is_cut_with_a_note_and_a_link() -> None:
    runs = [
        {
            "name": f"service-{number:05d}",
            "status": "ok",
            "reason": None,
            "inputs": [{"path": f"/traces/service-{number:05d}.strace.log", "state": "read"}],
            "reports": {"html": f"service-{number:05d}/report.html"},
            "verdict": {"code": "IOD001", "headline": "Slow read on /var/lib/x", "cost_s": 1.5},
            "worst": "error",
            "cost_s": 1.5,
            "counts": {"error": 1, "warning": 0, "info": 0},
            "findings": [],
        }
        for number in range(3000)
    ]
    document = index_document(runs, "error", {}, 1)
    text = index_markdown(document, "https://ci.example/artifacts/index.html")
    assert len(text) <= COMMENT_LIMIT
    assert "Truncated" in text and "https://ci.example/artifacts/index.html" in text
    assert fit_comment("short", "x") == "short"


@pytest.mark.slow
def test_findings_dataset_has_a_row_per_finding_with_its_run(batch) -> None:
    out, _ = batch
    index = json.loads((out / "index.json").read_text())
    table = ds.dataset(out / "findings", format="parquet").to_table()
    expected = 0
    for run in index["runs"]:
        if run["status"] == "ok":
            report = json.loads((out / run["reports"]["json"]).read_text())
            expected += len(report["findings"])
    assert table.num_rows == expected
    rows = table.to_pylist()
    assert {row["run"] for row in rows} == {"loop", "pool"}  # svc has none, broken no report
    located = [row for row in rows if row["code_file"]]
    assert located and all(row["code_line"] > 0 for row in located)
    assert {row["run_status"] for row in rows} == {"ok"}


@pytest.mark.slow
def test_junit_validates_against_the_junit_xsd(batch) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    out, _ = batch
    schema = xmlschema.XMLSchema(str(DATA / "junit-10.xsd"))
    schema.validate(str(out / "junit.xml"))  # raises with the reason when invalid
    document = schema.to_dict(str(out / "junit.xml"))
    suites = {suite["@name"]: suite for suite in document["testsuite"]}
    assert sorted(suites) == ["broken", "loop", "pool", "svc"]
    assert suites["broken"]["@errors"] == "1"
    assert int(suites["pool"]["@failures"]) >= 1
    assert suites["svc"]["@failures"] == "0" and int(suites["svc"]["@tests"]) >= 17


@pytest.mark.slow
def test_sarif_validates_against_the_sarif_schema(batch) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    out, _ = batch
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    log = json.loads((out / "iodiag.sarif").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    assert results and {r["properties"]["run"] for r in results} == {"loop"}
    where = results[0]["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"].endswith("signup_api.py")
    assert where["region"]["startLine"] == 124


@pytest.mark.slow
def test_github_annotations_and_job_summary(tmp_path: Path) -> None:
    traces = make_batch(tmp_path, broken=False)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = iodiag(
        "batch",
        traces,
        "-o",
        tmp_path / "out",
        "--github",
        "--reports",
        "json",
        "--source-root",
        "/work/main/fixtures/incidents/regex_on_loop",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    located = [line for line in lines if line.startswith("::warning file=signup_api.py,line=124,")]
    assert located, result.stdout
    assert any(line.startswith("::error title=IOD004 pool%3A") for line in lines)
    text = summary.read_text()
    assert text.startswith("earlier step\n## iodiag\n")
    assert "| loop | error |" in text


@pytest.mark.slow
def test_pool_and_serial_batches_are_identical(batch, tmp_path: Path) -> None:
    out, _ = batch
    traces = out.parent / "traces"
    serial = iodiag("batch", traces, "-o", tmp_path / "serial", "--fail-on", "error", "-j", "1")
    assert serial.returncode == 2
    assert_same_outputs(out, tmp_path / "serial")


def assert_same_outputs(one: Path, other: Path) -> None:
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    for name in files:
        assert (one / name).read_bytes() == (other / name).read_bytes(), name


@pytest.mark.slow
def test_inputs_and_outputs_as_fsspec_urls(batch, tmp_path: Path) -> None:
    pytest.importorskip("fsspec")
    out, _ = batch
    traces = out.parent / "traces"
    url_out = tmp_path / "url-out"
    result = iodiag(
        "batch", f"file://{traces}", "-o", f"file://{url_out}", "--fail-on", "error", "-j", "1"
    )
    assert result.returncode == 2, result.stderr
    index = json.loads((url_out / "index.json").read_text())
    local = json.loads((out / "index.json").read_text())
    assert [run["name"] for run in index["runs"]] == [run["name"] for run in local["runs"]]
    for remote, here in zip(index["runs"], local["runs"], strict=True):
        assert remote["status"] == here["status"]
        assert remote["verdict"] == here["verdict"]
        assert all(item["path"].startswith("file://") for item in remote["inputs"])
    report = json.loads((url_out / "pool" / "report.json").read_text())
    assert report["inputs"][0]["path"] == f"file://{traces}/pool.strace.log"
    assert report["findings"][0]["input"] == f"file://{traces}/pool.strace.log"


@pytest.mark.slow
def test_an_output_over_an_input_is_refused(tmp_path: Path) -> None:
    traces = tmp_path / "t"
    traces.mkdir()
    shutil.copyfile(LOGS / "small_sh.f_tt_T.log", traces / "index.json")
    result = iodiag("batch", traces / "index.json", "-o", traces)
    assert result.returncode == 2
    assert "will not overwrite the input" in result.stderr


# --------------------------------------------------------------------------- one run


@pytest.mark.parametrize("form", ["junit", "sarif", "github"])
@pytest.mark.slow
def test_the_ci_formats_for_one_run(form: str, tmp_path: Path) -> None:
    inputs = [REGEX / "strace.f_tt_T.log.gz", REGEX / "app.basicconfig.log"]
    result = iodiag(*inputs, "--format", form, "--fail-on", "error")
    assert result.returncode == 1
    assert "IOD002 error" in result.stderr
    if form == "junit":
        xmlschema = pytest.importorskip("xmlschema")
        path = tmp_path / "junit.xml"
        path.write_text(result.stdout)
        xmlschema.XMLSchema(str(DATA / "junit-10.xsd")).validate(str(path))
    elif form == "sarif":
        jsonschema = pytest.importorskip("jsonschema")
        schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
        jsonschema.Draft4Validator(schema).validate(json.loads(result.stdout))
    else:
        assert result.stdout.startswith("::error title=IOD002 strace.f_tt_T.log.gz%3A")


def test_the_schemas_are_the_ones_in_the_provenance() -> None:
    import hashlib

    for line in (DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name
        assert name in (DATA / "PROVENANCE.md").read_text()
