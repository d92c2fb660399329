"""IOD015 slow_dns against the incident captures (checked against what their programs and
their DNS servers measured), and hand-written traces (marked as such) for the edges no
capture shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pass_fixtures import ROOT, inputs_of

from analyzer import analyze
from analyzer.passes import PassConfig, PassInputs, call_slices, slow_dns, targets
from analyzer.passes.base import Finding

INCIDENTS = ROOT / "fixtures" / "incidents"
POOL = INCIDENTS / "slow_dns_pool"
NDOTS = INCIDENTS / "dns_ndots_in_coroutine"


def _truth(folder: Path) -> dict:
    return json.loads((folder / "truth.json").read_text(encoding="utf-8"))


def _strace_inputs(folder: Path) -> list[Path]:
    return [folder / name for name in _truth(folder)["inputs"] if name.startswith("strace")]


# ------------------------------------------------------------------ slow_dns_pool (capture)


@pytest.fixture(scope="module")
def pool_finding() -> Finding:
    (finding,) = slow_dns.run(inputs_of(*_strace_inputs(POOL)), PassConfig())
    return finding


def test_the_pool_lookups_are_one_finding_on_the_nameserver(pool_finding: Finding) -> None:
    measured = _truth(POOL)["measured"]
    assert pool_finding.kind == "slow_dns" and pool_finding.severity == "error"
    assert pool_finding.resource is not None and pool_finding.culprit is not None
    assert pool_finding.resource.key == "udp 127.0.0.1:53"
    assert pool_finding.resource.kind == "dns"
    assert "127.0.0.1:53" in pool_finding.resource.text
    assert pool_finding.culprit.pid == measured["job_pid"]
    evidence = pool_finding.evidence
    assert evidence["lookups"] == measured["lookups"]
    assert evidence["threads"] == measured["worker_tids"]
    assert evidence["pids"] == [measured["job_pid"]]


def test_the_pool_lookup_times_are_what_the_job_measured(pool_finding: Finding) -> None:
    measured = _truth(POOL)["measured"]["lookup_s"]
    seen = pool_finding.evidence["lookup_s"]
    # the job times getaddrinfo() from Python: a little more than the resolver's calls
    assert seen["min"] <= measured["min"] <= seen["min"] + 0.005
    assert seen["p50"] == pytest.approx(measured["p50"], abs=0.005)
    assert seen["max"] <= measured["max"]
    assert seen["total"] == pytest.approx(measured["total"], rel=0.01)
    assert pool_finding.cost_s == pytest.approx(seen["total"])


def test_the_pool_timeouts_and_resends_are_what_the_server_saw(pool_finding: Finding) -> None:
    measured = _truth(POOL)["measured"]
    evidence = pool_finding.evidence
    timeout = re.search(r"timeout:(\d+)", measured["resolv_conf"])
    assert timeout is not None
    assert evidence["resolver_timeout_s"] == float(timeout.group(1))
    # the server dropped the first A and AAAA of every name: one poll timeout per lookup
    assert evidence["timeouts"] == evidence["timed_out_lookups"] == measured["lookups"]
    assert evidence["queries"] == measured["dns_queries"]
    assert evidence["retransmits"] == measured["dns_dropped"]
    assert evidence["answers"] == measured["dns_answered"]
    assert "every lookup's first query timed out (resolver timeout 1 s)" in pool_finding.message
    assert "options timeout:" in pool_finding.fix and "nscd" in pool_finding.fix


def test_the_pool_verdict_leads_with_slow_dns() -> None:
    report = analyze(_strace_inputs(POOL)).report
    first = report["verdict"]["conclusions"][0]
    assert first["kind"] == "slow_dns"
    assert first["culprit"]["pid"] == _truth(POOL)["measured"]["job_pid"]
    assert "127.0.0.1:53" in first["resource"]["text"]


# ----------------------------------------------------------- dns_ndots_in_coroutine (capture)


@pytest.fixture(scope="module")
def ndots_inputs() -> PassInputs:
    return inputs_of(*_strace_inputs(NDOTS))


def test_the_search_list_shows_in_every_lookup(ndots_inputs: PassInputs) -> None:
    measured = _truth(NDOTS)["measured"]
    (finding,) = slow_dns.run(ndots_inputs, PassConfig())
    evidence = finding.evidence
    assert evidence["lookups"] == measured["lookups"]
    assert evidence["queries"] == measured["dns_queries_total"]
    (per_lookup,) = set(measured["queries_per_lookup"])
    assert evidence["queries_per_lookup"] == per_lookup
    (nxdomain,) = set(measured["nxdomain_per_lookup"])
    assert evidence["rcodes"]["NXDOMAIN"] == nxdomain * measured["lookups"]
    names = measured["per_lookup"][0]["names"]
    assert evidence["names_per_lookup"] == len(names)
    for example in evidence["examples"]:
        (sockets,) = set(measured["udp_sockets_per_lookup"])
        assert example["sockets"] == sockets
        # strace cut the names at its -s limit: what it shows is a prefix of each
        assert len(example["names"]) == len(names)
        for seen, asked in zip(example["names"], names, strict=True):
            assert asked.startswith(seen.rstrip("…"))
    assert "search" in finding.message and "ndots" in finding.fix


def test_the_ndots_lookup_times_match_the_program(ndots_inputs: PassInputs) -> None:
    measured = _truth(NDOTS)["measured"]
    found = slow_dns.lookups(ndots_inputs.traces[0])
    assert len(found) == measured["lookups"]
    for lookup, truth in zip(found, measured["per_lookup"], strict=True):
        assert lookup.tid == truth["tid"]
        assert lookup.start == pytest.approx(truth["start_epoch"], abs=0.005)
        assert lookup.duration_s == pytest.approx(truth["duration_s"], abs=0.005)
        assert len(lookup.nxdomain_names) * 2 == truth["nxdomain"]


def test_lookups_on_the_blocked_loop_leave_the_verdict_to_blocked_loop(
    ndots_inputs: PassInputs,
) -> None:
    measured = _truth(NDOTS)["measured"]
    report = analyze(_strace_inputs(NDOTS)).report
    conclusions = report["verdict"]["conclusions"]
    assert conclusions[0]["kind"] == "blocked_loop"
    (finding,) = [f for f in report["findings"] if f["kind"] == "slow_dns"]
    assert finding["evidence"]["loop_tids"] == [measured["loop_tid"]]
    assert finding["cost_s"] == 0.0
    assert "loop.getaddrinfo" in finding["fix"]


# ---------------------------------------------------------------- no DNS problem, no finding


def _other_traces() -> list[list[Path]]:
    found = []
    for truth in sorted(INCIDENTS.glob("*/truth.json")):
        if truth.parent not in (POOL, NDOTS):
            found.append(_strace_inputs(truth.parent))
    logs = ROOT / "fixtures" / "diagnosis" / "logs"
    found += [[path] for path in sorted(logs.glob("*.log")) if "debug" not in path.name]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("paths", _other_traces(), ids=lambda paths: paths[0].parent.name)
def test_no_finding_without_slow_lookups(paths: list[Path]) -> None:
    assert slow_dns.run(inputs_of(*paths), PassConfig()) == []


# ------------------------------------------------------------------ hand-written traces


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"10:{whole // 60:02d}:{whole % 60:02d}.{round((seconds - whole) * 1e6):06d}"


_QUERY = r"\1\2\1\0\0\1\0\0\0\0\0\0\3api\7example\3com\0\0\1\0\1"
_AAAA = r"\1\3\1\0\0\1\0\0\0\0\0\0\3api\7example\3com\0\0\34\0\1"
_ANSWER = r"\1\2\201\200\0\1\0\1\0\0\0\0\3api\7example\3com\0\0\1\0\1"
_EMPTY = r"\1\3\201\200\0\1\0\0\0\0\0\0\3api\7example\3com\0\0\34\0\1"
_ADDRESS = '{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.2")}'


def _lookup(tid: int, start: float, wait_s: float) -> list[str]:
    """Hand-written: glibc's calls for one getaddrinfo() whose answers came after `wait_s`
    (the shape of the captures, with made-up times)."""
    t = start
    lines = []

    def call(text: str, took: float = 0.00001) -> None:
        nonlocal t
        lines.append(f"{tid} {_clock(t)} {text} <{took:.6f}>")
        t += took + 0.00002

    call('newfstatat(AT_FDCWD, "/etc/resolv.conf", {st_mode=S_IFREG|0644, st_size=50, ...}, 0) = 0')
    call('openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 7')
    call('read(7, "127.0.0.1 localhost\\n", 4096) = 20')
    call("close(7) = 0")
    call("socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 7")
    call(f"connect(7, {_ADDRESS}, 16) = 0")
    iov = '{{msg_hdr={{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="{}", iov_len=33}}], msg_iovlen=1, msg_controllen=0, msg_flags=0}}, msg_len=33}}'  # noqa: E501
    call(f"sendmmsg(7, [{iov.format(_QUERY)}, {iov.format(_AAAA)}], 2, MSG_NOSIGNAL) = 2")
    call("poll([{fd=7, events=POLLIN}], 1, 5000) = 1 ([{fd=7, revents=POLLIN}])", wait_s)
    call(f'recvfrom(7, "{_ANSWER}", 2048, 0, {_ADDRESS}, [28 => 16]) = 49')
    call("poll([{fd=7, events=POLLIN}], 1, 4990) = 1 ([{fd=7, revents=POLLIN}])")
    call(f'recvfrom(7, "{_EMPTY}", 65536, 0, {_ADDRESS}, [28 => 16]) = 33')
    call("close(7) = 0")
    return lines


def _inputs(tmp_path: Path, lines: list[str], earlier: tuple[Finding, ...] = ()) -> PassInputs:
    path = tmp_path / "trace.log"
    path.write_text("\n".join(lines) + "\n")
    inputs = inputs_of(path)
    return PassInputs(traces=inputs.traces, tables=inputs.tables, earlier=earlier)


def test_fast_lookups_are_no_finding(tmp_path: Path) -> None:
    lines = [line for i in range(5) for line in _lookup(100, i * 0.1, 0.002)]
    inputs = _inputs(tmp_path, lines)
    assert len(slow_dns.lookups(inputs.traces[0])) == 5
    assert slow_dns.run(inputs, PassConfig()) == []


def test_lookups_end_where_the_thread_does_something_else(tmp_path: Path) -> None:
    first = _lookup(100, 0.0, 0.3)
    second = _lookup(100, 0.40, 0.3)
    # the second lookup has no configuration read: only the write splits them
    second = [line for line in second if "/etc/" not in line and "read(7" not in line]
    write = f'100 {_clock(0.35)} write(1, "ok\\n", 3) = 3 <0.000010>'
    found = slow_dns.lookups(_inputs(tmp_path, [*first, write, *second]).traces[0])
    assert [round(lookup.duration_s, 2) for lookup in found] == [0.3, 0.3]
    assert [lookup.messages_sent for lookup in found] == [2, 2]
    assert found[0].names == ["api.example.com."]
    assert found[0].rcodes == {"NOERROR": 2}


def test_a_long_time_away_from_the_resolver_starts_a_new_lookup(tmp_path: Path) -> None:
    first = _lookup(100, 0.0, 0.2)
    second = [line for line in _lookup(100, 0.5, 0.2) if "/etc/" not in line]
    found = slow_dns.lookups(_inputs(tmp_path, [*first, *second]).traces[0])
    assert len(found) == 2


def test_slow_answers_are_a_warning_naming_the_nameserver(tmp_path: Path) -> None:
    lines = [line for i in range(4) for line in _lookup(100 + i, i * 0.01, 0.15)]
    (finding,) = slow_dns.run(_inputs(tmp_path, lines), PassConfig())
    assert finding.severity == "warning"
    assert finding.resource is not None and finding.resource.key == "udp 10.0.0.2:53"
    assert finding.evidence["threads"] == [100, 101, 102, 103]
    assert finding.evidence["timeouts"] == 0
    assert "answers slowly" in finding.fix
    assert finding.cost_s == pytest.approx(4 * 0.15, abs=0.01)


def test_a_loop_thread_counted_by_blocked_loop_costs_nothing_here(tmp_path: Path) -> None:
    lines = [line for i in range(4) for line in _lookup(100, i * 0.5, 0.25)]
    loop = Finding(
        code="IOD002",
        kind="blocked_loop",
        severity="error",
        title="hand-built",
        message="hand-built",
        evidence={"loop_tid": 100},
        input=str(tmp_path / "trace.log"),
        cost_s=1.0,
    )
    (finding,) = slow_dns.run(_inputs(tmp_path, lines, (loop,)), PassConfig())
    assert finding.evidence["loop_tids"] == [100]
    assert finding.cost_s == 0.0
    assert finding.evidence["lookup_s"]["total"] == pytest.approx(1.0, abs=0.01)


def test_a_traced_dns_server_is_not_a_client_lookup(tmp_path: Path) -> None:
    # hand-written: a server's blocking recvfrom on its bound port 53, then its answer
    client = '{sa_family=AF_INET, sin_port=htons(40000), sin_addr=inet_addr("127.0.0.1")}'
    lines = []
    for i in range(5):
        t = i * 0.5
        lines += [
            f'200 {_clock(t)} recvfrom(3<UDP:[127.0.0.1:53]>, "{_QUERY}", 2048, 0, {client}, '
            f"[16]) = 33 <0.400000>",
            f'200 {_clock(t + 0.41)} sendto(3<UDP:[127.0.0.1:53]>, "{_ANSWER}", 49, 0, '
            f"{client}, 16) = 49 <0.000010>",
        ]
    assert slow_dns.run(_inputs(tmp_path, lines), PassConfig()) == []


# ------------------------------------------------------------------------ the DNS bytes


def test_a_strace_string_decodes_to_the_dns_header_and_name() -> None:
    # copied from dns_ndots_in_coroutine/strace.f_ttt_T.log.gz (a recvfrom, cut at -s 32)
    text = r"'\207\201\203\0\1\0\0\0\1\0\0\3api\10payments\3svc\7cl"
    message = slow_dns.dns_message(slow_dns.unescape(text))
    assert message is not None
    assert message.id == 0x2787 and message.rcode == 3 and message.answers == 0
    assert message.name == "api.payments.svc.cl…" and not message.complete


def test_queries_over_tcp_are_read_without_their_lengths() -> None:
    # copied from a capture of glibc with `options use-vc` (strace 6.1, this repository's VM)
    args = (
        r'3, [{iov_base="\0\"", iov_len=2}, {iov_base="=P\1\0\0\1\0\0\0\0\0\0\4svc2\7example'
        r'\3org\0\0\1"..., iov_len=34}, {iov_base="\0\"", iov_len=2}, {iov_base="\35U\1\0\0'
        r'\1\0\0\0\0\0\0\4svc2\7example\3org\0\0\34"..., iov_len=34}], 4'
    )
    payloads = slow_dns._queries("writev", args, 72, over_tcp=True)
    messages = [slow_dns.dns_message(payload) for payload in payloads]
    assert [(m.id, m.name) for m in messages if m] == [
        (0x3D50, "svc2.example.org."),
        (0x1D55, "svc2.example.org."),
    ]


# ------------------------------------------------------------------ the resolver's calls


def _with_resolvers() -> list[list[Path]]:
    return [_strace_inputs(POOL), _strace_inputs(NDOTS), *_other_traces()]


@pytest.mark.parametrize("paths", _with_resolvers(), ids=lambda paths: paths[0].parent.name)
def test_the_resolver_calls_are_those_of_the_socket_targets(
    monkeypatch: pytest.MonkeyPatch, paths: list[Path]
) -> None:
    """The calls that talked to a nameserver, found on `targets.slice_paths` (every path of a
    slice, kept for the passes of a trace up to `targets.MEMO_ROWS` calls) are those found on
    `_socket_targets` (the sockets alone, for longer traces), slices cut small."""
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    for trace in inputs_of(*paths).traces:
        shared = slow_dns._resolver_rows(trace)
        with monkeypatch.context() as longer:
            longer.setattr(targets, "MEMO_ROWS", -1)
            alone = slow_dns._resolver_rows(trace)
        if shared is None or alone is None:
            assert shared is alone
            continue
        assert [part.tolist() for part in shared] == [part.tolist() for part in alone]
        if paths[0].parent in (POOL, NDOTS):
            assert (shared[1] == slow_dns._DNS).sum() > 10


@pytest.mark.parametrize("paths", _with_resolvers(), ids=lambda paths: paths[0].parent.name)
def test_the_nameserver_calls_of_a_slice_are_those_every_resource_gives(
    monkeypatch: pytest.MonkeyPatch, paths: list[Path]
) -> None:
    """`_dns_rows` (resources of the socket-like texts only) finds, slice by slice, the
    calls `_dns_calls` finds with the resource of every text of the slice."""
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    found = 0
    for trace in inputs_of(*paths).traces:
        for offset, part in call_slices.slices(trace.syscalls, ["target", "fd", "args"]):
            shared = targets.slice_paths(trace, offset, part)
            fast = slow_dns._dns_rows(part, shared)
            assert fast.tolist() == slow_dns._dns_calls(part, shared)[0].tolist()
            found += int(fast.sum())
    if paths[0].parent in (POOL, NDOTS):
        assert found > 10


_TEXTS = st.sampled_from(
    [
        "UDP:[10.0.0.5:40000->10.0.0.2:53]",
        "UDP:[10.0.0.5:40001->10.0.0.2:53]",
        "udp 10.0.0.2:53",
        "tcp 10.0.0.2:53",
        "TCP:[10.0.0.5:40002->10.0.0.2:53]",
        "TCPv6:[[::1]:40003->[::1]:53]",
        "UDPv6:[[::1]:40004->[::1]:53]",
        "UDP:[10.0.0.5:40005]",
        "UDP:[10.0.0.5:40006->10.0.0.3:5353]",
        "UDP:[10.0.0.5:53]",
        "UDP<char 1:3>",
        "/etc/resolv.conf",
        "/dev/udp53",
        "UNIX:[123]",
        "pipe:[7]",
        "",
    ]
)


@given(st.lists(st.tuples(st.one_of(st.none(), _TEXTS), st.booleans()), max_size=30))
def test_the_nameserver_calls_of_generated_targets_are_those_every_resource_gives(
    rows: list[tuple[str | None, bool]],
) -> None:
    """Hand-built targets (not a capture), texts of one resource in every order: a text
    that is its own resource before or after the socket with that peer, undecorated UDP
    sockets with a port-53 address in their arguments."""
    part = pa.table(
        {
            "target": pa.array([text for text, _ in rows], pa.string()),
            "args": pa.array(
                ["3, sin_port=htons(53)" if port else "3, sin_port=htons(80)" for _, port in rows],
                pa.string(),
            ),
        }
    )
    for given_targets in (part["target"], pc.dictionary_encode(part["target"].combine_chunks())):
        fast = slow_dns._dns_rows(part, given_targets)
        assert fast.tolist() == slow_dns._dns_calls(part, given_targets)[0].tolist()
