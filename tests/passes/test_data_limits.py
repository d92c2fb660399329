"""IOD011 data_limits: what the inputs cannot show, on short hand-written traces.

`PROBING_AT_START` is copied from a real capture (node 20 under `strace -f -tt -T -yy`,
trimmed by hand); `ATTACHED` is hand-written in the shape of a `strace -p` attach (an fd used
but never opened in the trace).
"""

from __future__ import annotations

from pathlib import Path

from analyzer import analyze
from analyzer.passes import data_limits

PROBING_AT_START = """\
27467 03:36:58.456139 fcntl(1</tmp/out>, F_SETFD, FD_CLOEXEC) = 0 <0.000012>
27467 03:36:58.456225 fcntl(3, F_SETFD, FD_CLOEXEC) = -1 EBADF (Bad file descriptor) <0.000012>
27467 03:36:58.456281 fcntl(4, F_SETFD, FD_CLOEXEC) = -1 EBADF (Bad file descriptor) <0.000011>
27467 03:36:58.456322 fcntl(5, F_SETFD, FD_CLOEXEC) = -1 EBADF (Bad file descriptor) <0.000011>
27467 03:36:58.456522 fcntl(10</dev/null<char 1:3>>, F_SETFD, FD_CLOEXEC) = 0 <0.000011>
27467 03:36:58.571367 epoll_create1(EPOLL_CLOEXEC) = 3<anon_inode:[eventpoll]> <0.000024>
"""

ATTACHED = """\
4242 10:00:00.000100 read(7, "GET / HTTP/1.1\\r\\n", 4096) = 16 <0.000020>
4242 10:00:00.000200 write(7, "HTTP/1.1 200 OK\\r\\n", 17) = 17 <0.000030>
4242 10:00:00.000300 read(7, "", 4096) = 0 <0.000010>
4242 10:00:00.000400 close(7) = 0 <0.000010>
"""


def _limits(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "trace.log"
    path.write_text(text)
    findings = analyze(path).report["findings"]
    return [f["evidence"]["limit"] for f in findings if f["code"] == data_limits.CODE]


def test_fds_probed_with_ebadf_were_never_open(tmp_path: Path) -> None:
    assert "File descriptors opened before the trace" not in _limits(tmp_path, PROBING_AT_START)


def test_fds_used_but_never_opened_in_the_trace_are_a_limit(tmp_path: Path) -> None:
    assert "File descriptors opened before the trace" in _limits(tmp_path, ATTACHED)
