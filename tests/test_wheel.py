"""The built wheel carries its data files and the installed `iodiag-analyze` works from anywhere.

Builds the wheel with `python -m build --wheel` (isolated: pip fetches hatchling), checks the
grammar and report templates are inside, installs it into a fresh venv and runs the console
script on a copied fixture from a working directory outside the checkout, so the checkout's
top-level `grammars/` and `reports/` cannot be picked up by accident.

Slow (one build, one venv): about half a minute with a warm pip cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "strace" / "logs" / "mt_pipes.f_tt_T.log"
DATA_FILES = (
    "analyzer/grammars/strace.lark",
    "analyzer/reports/report.html.j2",
    "analyzer/reports/report.md.j2",
    "analyzer/reports/macros.html.j2",
    "analyzer/reports/sections/strace.html.j2",
    "analyzer/reports/sections/strace.md.j2",
    "analyzer/reports/report.css",
)
# Signs that an isolated build failed only because it could not download its build deps.
NETWORK_ERRORS = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectionError",
    "ProxyError",
)


def _clean_env() -> dict[str, str]:
    """The environment without anything that could point Python back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env.update(NO_COLOR="1", COLUMNS="100", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    outdir = tmp / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", outdir, REPO]
    proc = _run(build, cwd=tmp, timeout=150)
    if proc.returncode != 0:
        log = proc.stdout + proc.stderr
        if not any(sign in log for sign in NETWORK_ERRORS):
            pytest.fail(f"python -m build --wheel failed:\n{log[-4000:]}")
        if importlib.util.find_spec("hatchling") is None:
            pytest.skip(
                "isolated build could not download hatchling (no network?) and hatchling "
                "is not installed here for --no-isolation"
            )
        proc = _run([*build, "--no-isolation"], cwd=tmp, timeout=150)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    wheels = list(outdir.glob("iodiag-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_contains_data_files(wheel: Path) -> None:
    assert wheel.name.startswith("iodiag-0.1.0-")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in DATA_FILES:
            assert name in names, sorted(names)
        assert "analyzer/cli/analyze.py" in names
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "iodiag-analyze = analyzer.cli:main" in zf.read(entry_points).decode()
    # The checkout's top-level folders must not leak into the wheel as packages of their own.
    assert not any(n.startswith(("grammars/", "reports/", "fixtures/", "tests/")) for n in names)


def test_installed_console_script_runs_outside_checkout(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("venv")
    assert REPO not in tmp.resolve().parents
    venv = tmp / "venv"
    proc = _run([sys.executable, "-m", "venv", venv], tmp, 120)
    assert proc.returncode == 0, proc.stderr
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    # The runtime dependencies (pandas, pyarrow, lark, jinja2, ...) are already installed
    # for the test run; a .pth file appends the test interpreter's own site directories to the
    # new venv's path, which avoids downloading ~100 MB per run. (`--system-site-packages`
    # would not do: when pytest itself runs in a venv, it exposes the base interpreter's
    # site-packages, not that venv's.) Appended directories come after the venv's own, and
    # the wheel is installed with --no-deps --ignore-installed, so even where iodiag is
    # installed in the test environment (as CI does) `analyzer` comes from the wheel
    # (checked below).
    proc = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp, 60)
    assert proc.returncode == 0, proc.stderr
    site_dirs = [entry for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))]
    Path(proc.stdout.strip(), "iodiag-test-deps.pth").write_text("\n".join(site_dirs) + "\n")
    install = [
        python,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-index",
        "--ignore-installed",
        "-q",
        wheel,
    ]
    proc = _run(install, tmp, 120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    workdir = tmp / "work"
    workdir.mkdir()
    trace = workdir / FIXTURE.name
    shutil.copyfile(FIXTURE, trace)

    proc = _run([python, "-c", "import analyzer; print(analyzer.__file__)"], workdir, 60)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().is_relative_to(venv.resolve()), proc.stdout

    script = bindir / "iodiag-analyze"
    assert script.is_file()
    expected_lines = len(FIXTURE.read_bytes().splitlines())
    for engine in ("fast", "lark"):  # lark: the grammar-only parser reads strace.lark
        proc = _run([script, trace.name, "--format", "json", "--engine", engine], workdir, 120)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        (source,) = report["inputs"]
        assert source["lines"] == expected_lines
        assert source["parsed_lines"] == source["lines"]

    # The default run renders the HTML and Markdown templates from the installed package.
    proc = _run([script, trace.name, "--out-dir", "reports"], workdir, 120)
    assert proc.returncode == 0, proc.stderr
    stem = FIXTURE.name.removesuffix(".log")
    assert (workdir / "reports" / f"{stem}.iodiag.html").stat().st_size > 0
    assert (workdir / "reports" / f"{stem}.iodiag.md").stat().st_size > 0
