"""IOD015 slow_dns: name lookups that wait for a nameserver, per nameserver.

How glibc resolves a name (``getaddrinfo``, ``gethostbyname``; CPython's
``socket.getaddrinfo`` calls it with the GIL released, on whatever thread asked):

- ``/etc/nsswitch.conf`` decides the sources (``hosts: files dns``). glibc first tries the
  nscd socket (``connect(... "/var/run/nscd/socket") = -1 ENOENT`` when nscd is not running),
  stats ``/etc/resolv.conf`` (``__resolv_context_get`` reloads it when it changed) and reads
  ``/etc/hosts`` (``nss_files``) before it asks DNS (``nss_dns``).
- ``res_send``/``send_dg`` (glibc ``resolv/res_send.c``) opens a UDP socket per query name,
  ``connect``s it to the nameserver (port 53), sends the A and AAAA queries together
  (``sendmmsg`` of 2 messages; ``sendto`` one by one with ``options single-request``) and
  waits for the answers in ``poll(POLLIN)`` with the resolver's timeout: ``options
  timeout:N`` of resolv.conf(5), 5 s by default (``RES_TIMEOUT``). A poll that returns 0
  (``Timeout``) means no answer came: glibc resends the same queries (same query ids) to the
  next nameserver, or to the same one in the next of ``attempts:N`` rounds (default 2). The
  socket is closed after each name (no ``RES_STAYOPEN``).
- A name with fewer dots than ``ndots`` (default 1; Kubernetes pods use 5) is tried with
  every ``search`` suffix first (``__res_context_search`` in ``resolv/res_query.c``): each
  try is a new socket and an A+AAAA pair, and the suffixed names usually come back NXDOMAIN
  (rcode 3 in the answer's header) before the name itself is asked.
- A truncated answer, or ``options use-vc``, sends the lookup over TCP: a ``connect`` to port
  53, each query after its 2-byte length (``writev``), the answers read (length, then
  message) with blocking ``read``s (RFC 1035 4.2.2).
- glibc does not cache answers; nscd, systemd-resolved or dnsmasq do.
- musl and other stub resolvers send with ``sendto`` to the nameserver's address on an
  unconnected socket; the nameserver then shows in the ``sendto``/``recvfrom`` addresses.

So a lookup shows on its thread as a run of resolver calls: the configuration files, then
calls on sockets whose peer is port 53 (a ``UDP:[->127.0.0.1:53]`` target, from ``-yy`` or
from replaying the ``connect``; the resolver's ``poll`` carries the fd it waited on), with
nothing else in between. The pass reconstructs each lookup per thread: a run of such calls
that no other call on another fd interrupts, split where the configuration files are read
again after DNS traffic (the next ``getaddrinfo``) or where the thread was away from the
resolver for more than `MAX_GAP_S`. Per lookup it counts the query messages (a
``sendmmsg`` counts the messages it sent), the distinct query ids (a resent id is a
retransmission), the answers and their rcodes (NXDOMAIN, SERVFAIL ...) from the DNS header
at the start of the received bytes, the query names (what strace shows of them, cut at its
``-s`` limit), and the polls that timed out, with their timeout (the resolver timeout).

A run that sent no query (or sent DNS answers: a traced DNS server's own calls on port 53)
is not a lookup. Lookups are grouped by the nameserver that made them wait (the one the
lookup spent most time waiting for, in polls and receives): one finding per nameserver,
whatever the number of threads or processes. A
group is reported when one of its lookups took `SLOW_LOOKUP_S` or a query timed out. It is
an error when a query timed out or a lookup took a second, a warning when its lookups took
`WARNING_TOTAL_S` in all, info otherwise. `cost_s` is the time threads spent in the
lookups, except on event-loop threads that an earlier `blocked_loop` finding already counts
(the loop's finding leads there; `loop_tids` in the evidence names them). The culprit is the
process whose lookups waited; the resource is the nameserver (kind ``dns``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_families import (
    CHILD_WAITS,
    DNS_FILES,
    EPOLL_WAITS,
    SLEEPS,
)
from analyzer.derive.strace_fds import sockaddr_text
from analyzer.derive.strace_waits import POLLS, SELECTS
from analyzer.passes import call_slices, targets
from analyzer.passes.base import (
    Culprit,
    Explains,
    Finding,
    Pass,
    PassConfig,
    PassInputs,
    Resource,
    Severity,
)
from analyzer.passes.common import cited_lines, percentile, plural
from analyzer.passes.targets import (
    EncodedResources,
    coded_slice_paths,
    encode_resources,
    may_name_path,
    with_paths,
)

CODE = "IOD015"
KIND = "slow_dns"
SLOW_LOOKUP_S = 0.1
"""A lookup this long is slow (a nameserver on the same network answers in milliseconds)."""
WARNING_TOTAL_S = 0.3
"""Slow lookups that took this long in all make a warning (fewer are info)."""
MAX_GAP_S = 0.1
"""A thread away from resolver calls this long between two of them started a new lookup."""
MAX_LISTED = 10
_OTHER, _CONF, _DNS, _UDP = 0, 1, 2, 3
"""Kinds of the calls on a resolving thread (see `_resolver_rows`)."""

_DNS_PEER = re.compile(r"^(?:udp|tcp)(?:v6)? .*:53$")
_SENDS = frozenset({"send", "sendto", "sendmsg", "write", "writev"})
_RECEIVES = frozenset({"recv", "recvfrom", "recvmsg", "read", "readv"})
_WAITS = POLLS | SELECTS
_NEUTRAL = frozenset({"close", "fstat", "newfstatat", "fcntl", "fcntl64"})
"""Calls with an fd that say nothing about where a thread is (glibc closes its own fds)."""
_AWAY = SLEEPS | CHILD_WAITS | EPOLL_WAITS
"""Calls without a resolver fd that a resolver never makes: the thread is elsewhere."""
_NSCD = "nscd/socket"
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_IOV = re.compile(r'iov_base="((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {b"n": 10, b"t": 9, b"r": 13, b"v": 11, b"f": 12, b"a": 7, b"b": 8, b"e": 27}
_POLL_TIMEOUT = re.compile(r"\], \d+, (-?\d+)(?:\)|$)")
_TIMESPEC = re.compile(r"tv_sec=(\d+), tv_(n|u)sec=(\d+)")
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_RESOLV_OPTIONS = re.compile(r"\b(ndots|timeout|attempts):(\d+)")


def unescape(text: str) -> bytes:
    """The bytes of a string as strace prints it (C escapes: ``\\n``, ``\\123``, ``\\x7f``)."""

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        simple = _SIMPLE_ESCAPES.get(code)
        return bytes([simple]) if simple is not None else code

    return _ESCAPE.sub(one, text.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class Message:
    """What strace shows of one DNS message: its id, rcode (answers), query name (as far as
    the bytes go; ``complete`` when its last label was seen) and answer count."""

    id: int
    rcode: int | None
    name: str
    complete: bool
    answers: int | None


def dns_message(data: bytes, length_prefixed: bool = False) -> Message | None:
    """The header and the first question's name of a DNS message (RFC 1035 4.1), from the
    bytes strace printed (perhaps cut at its ``-s`` limit); `length_prefixed`: the bytes
    start with the 2-byte length that precedes a message over TCP."""
    if length_prefixed:
        data = data[2:]
    if len(data) < 4:
        return None
    ident = int.from_bytes(data[:2], "big")
    is_answer = bool(data[2] & 0x80)
    rcode = data[3] & 0x0F if is_answer else None
    answers = int.from_bytes(data[6:8], "big") if is_answer and len(data) >= 8 else None
    labels: list[str] = []
    at, complete = 12, False
    while at < len(data):
        size = data[at]
        if size == 0:
            complete = True
            break
        if size & 0xC0:
            break
        label = data[at + 1 : at + 1 + size].decode("ascii", "replace")
        if at + 1 + size > len(data):
            if label:
                labels.append(label + "…")
            break
        labels.append(label)
        at += 1 + size
    name = ".".join(labels) + (
        "." if complete else "" if not labels or labels[-1].endswith("…") else ".…"
    )
    return Message(ident, rcode, name, complete, answers)


@dataclass
class Lookup:
    """One reconstructed name lookup on one thread."""

    tid: int
    pid: int | None
    start: float
    end: float
    line: int
    ongoing: bool
    messages_sent: int = 0
    query_ids: set[int] = field(default_factory=set)
    names: list[str] = field(default_factory=list)
    answers: int = 0
    rcodes: Counter[str] = field(default_factory=Counter)
    nxdomain_names: set[str] = field(default_factory=set)
    timeouts: int = 0
    timeout_args_s: list[float] = field(default_factory=list)
    sockets: int = 0
    wait_by_peer: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    peers: list[str] = field(default_factory=list)
    timeouts_by_peer: Counter[str] = field(default_factory=Counter)
    sent_by_peer: Counter[str] = field(default_factory=Counter)
    answers_by_peer: Counter[str] = field(default_factory=Counter)
    answers_sent: int = 0

    @property
    def asks(self) -> bool:
        """A client's lookup: it connected to a nameserver or sent queries, and sent no
        answers (a traced DNS server's own calls on port 53 are not lookups)."""
        return (self.sockets > 0 or self.messages_sent > 0) and self.answers_sent == 0

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def nameserver(self) -> str | None:
        if self.wait_by_peer:
            return max(self.wait_by_peer, key=lambda peer: self.wait_by_peer[peer])
        return self.peers[0] if self.peers else None


def _length_prefixed(data: bytes, size: int | None) -> bool:
    """Whether DNS-over-TCP bytes start with the 2-byte message length (RFC 1035 4.2.2)."""
    return size is not None and len(data) >= 2 and int.from_bytes(data[:2], "big") == size - 2


def _queries(syscall: str, args: str, sent: int, over_tcp: bool) -> list[bytes]:
    """The DNS messages a send call sent (the bytes strace shows of each). `sent` is its
    return value: messages for ``sendmmsg``, bytes otherwise. Over TCP each message follows
    its 2-byte length (glibc: ``writev`` of length, query, length, query)."""
    if syscall == "sendmmsg":
        return [unescape(text) for text in _IOV.findall(args)[:sent]]
    texts = _IOV.findall(args) if syscall in ("sendmsg", "writev") else []
    if not texts and (quoted := _QUOTED.search(args)):
        texts = [quoted.group(1)]
    parts = [unescape(text) for text in texts]
    if not over_tcp:
        return [b"".join(parts)] if parts else []
    messages = []
    for part in parts:
        if len(part) <= 2:
            continue  # a length: its message is the next part
        messages.append(part[2:] if _length_prefixed(part, sent) else part)
    return messages


def _peer_of(resource: str | None, target_class: str | None, args: str) -> str | None:
    """``udp 127.0.0.1:53`` for a call on a resolver socket: its fd's peer, else the port-53
    address in its arguments (connect/sendto/recvfrom)."""
    if resource is not None and _DNS_PEER.match(resource):
        return resource
    if "htons(53)" in args:
        address = sockaddr_text(args)
        if address:
            protocol = "tcp" if target_class == "tcp" else "udp"
            return f"{protocol}{'v6' if address.startswith('[') else ''} {address}"
    return None


def _wait_timeout_s(syscall: str, args: str) -> float | None:
    """The timeout a poll/select call was given, in seconds (None: none, or unreadable)."""
    if syscall == "poll":
        match = _POLL_TIMEOUT.search(args)
        if match and int(match.group(1)) >= 0:
            return int(match.group(1)) / 1000
        return None
    match = _TIMESPEC.search(args)
    if match:
        scale = 1e9 if match.group(2) == "n" else 1e6
        return int(match.group(1)) + int(match.group(3)) / scale
    return None


def _any_equal(column: pa.Array | pa.ChunkedArray, names: Iterable[str]) -> np.ndarray:
    """Mask: the value is one of a few `names` (one cheap comparison per name)."""
    mask = np.zeros(len(column), dtype=bool)
    for name in names:
        mask |= filled_numpy(pc.equal(column, name), False)
    return mask


def _socket_targets(part: pa.Table) -> pa.Array:
    """`with_paths` of `part` as far as sockets go: the targets, and the paths of the calls
    without a target or fd only where their arguments name a TCP or UDP socket (a path is
    a piece of the arguments, so only then can it name one); other paths are left null."""
    targets = contiguous(part["target"])
    missing = filled_numpy(pc.and_(pc.is_null(targets), pc.is_null(contiguous(part["fd"]))), False)
    if not missing.any():
        return targets
    # only the arguments `with_paths` could read a path from are searched
    args = part["args"]
    at = np.flatnonzero(missing & may_name_path(args))
    named = args.take(pa.array(at, pa.int64()))
    at = at[
        filled_numpy(pc.match_substring(named, "TCP"), False)
        | filled_numpy(pc.match_substring(named, "UDP"), False)
    ]
    if len(at) == 0:
        return targets
    paths = with_paths(part.select(["target", "fd", "args"]).take(pa.array(at)))
    mask = np.zeros(len(targets), dtype=bool)
    mask[at] = True
    return pc.replace_with_mask(targets, pa.array(mask), contiguous(paths))


def _slice_targets(
    trace: StraceTables, offset: int, part: pa.Table
) -> tuple[pa.Array, np.ndarray | None]:
    """The targets of a slice of calls for `_dns_calls`: `targets.slice_paths` when the
    passes keep it for the trace (computed once for several passes, its dictionary already
    encoded: at 1M lines this scan took 0.13 CPU-s with `_socket_targets`, 0.04 with it),
    else `_socket_targets` (cheaper than every path). The two differ only in paths that
    name no socket, which `_dns_calls` leaves out either way. With the indices of the
    former (-1 for nulls)."""
    if targets.keeps_slices(trace):
        paths = coded_slice_paths(trace, offset, part)
        return paths.encoded, paths.codes
    return _socket_targets(part), None


def _dns_calls(part: pa.Table, targets: pa.Array) -> tuple[np.ndarray, EncodedResources]:
    """Which calls of `part` (a table with ``args``) talk to a nameserver (see
    `_resolver_rows`), given their `with_paths` targets, and the resources of its calls."""
    encoded = encode_resources(targets)
    dns_codes, udp_codes = _nameservers(encoded)
    return _with_port_53(part, dns_codes[encoded.codes], udp_codes[encoded.codes]), encoded


def _nameservers(encoded: EncodedResources) -> tuple[np.ndarray, np.ndarray]:
    """Per resource code (and -1 last): whether it is a nameserver, whether a UDP socket."""
    dns_codes = np.array(
        [
            cls in ("udp", "tcp") and name.endswith(":53") and bool(_DNS_PEER.match(name))
            for name, cls in zip(encoded.names, encoded.classes, strict=True)
        ]
        + [False],
        dtype=bool,
    )
    udp_codes = np.array([cls == "udp" for cls in encoded.classes] + [False], dtype=bool)
    return dns_codes, udp_codes


def _with_port_53(part: pa.Table, dns: np.ndarray, udp: np.ndarray) -> np.ndarray:
    """`dns`, and the calls on other UDP sockets with a port-53 address in the arguments: an
    unconnected (musl) or undecorated (-yy before connect) UDP socket."""
    udp_rows = np.flatnonzero(udp & ~dns)
    if len(udp_rows):
        udp_args = part["args"].take(pa.array(udp_rows))
        dns[udp_rows] = filled_numpy(pc.match_substring(udp_args, "htons(53)"), False)
    return dns


_SOCKET_HEADS = ("TCP", "UDP", "tcp", "udp")
"""How a target text starts when its resource can be a nameserver's (``udp 10.0.0.2:53``): a
socket's (``UDP:[...]``), or a text that is its own resource and reads like one."""


def _dns_rows(part: pa.Table, targets: pa.Array, codes: np.ndarray | None = None) -> np.ndarray:
    """``_dns_calls(part, targets)[0]``, with the resources and classes worked out for the
    target texts that start like a socket's only (a slice's dictionary holds tens of
    thousands of paths). No other text has a resource one of those has (its resource is
    itself), so each resource's first target, hence its class, is the same. `codes`: the
    indices of `targets` (dictionary-encoded) with -1 for nulls, when known."""
    encoded = (
        targets
        if isinstance(targets, pa.DictionaryArray)
        else pc.dictionary_encode(contiguous(targets))
    )
    dictionary = encoded.dictionary
    sockets = np.zeros(len(dictionary), dtype=bool)
    for head in _SOCKET_HEADS:
        sockets |= filled_numpy(pc.starts_with(dictionary, head), False)
    if not sockets.any():
        return np.zeros(len(encoded), dtype=bool)
    chosen = np.flatnonzero(sockets)
    # the chosen texts in dictionary order, each a row: codes per text
    per_text = encode_resources(dictionary.take(pa.array(chosen)))
    dns_codes, udp_codes = _nameservers(per_text)
    dns_text = np.zeros(len(dictionary) + 1, dtype=bool)
    udp_text = np.zeros(len(dictionary) + 1, dtype=bool)
    dns_text[chosen] = dns_codes[per_text.codes]
    udp_text[chosen] = udp_codes[per_text.codes]
    at = _indices(encoded) if codes is None else codes
    return _with_port_53(part, dns_text[at], udp_text[at])


def _indices(encoded: pa.DictionaryArray) -> np.ndarray:
    """The dictionary index of each row, -1 for a null."""
    return np.asarray(filled_numpy(encoded.indices, -1), dtype=np.int64)


def _resolver_rows(trace: StraceTables) -> tuple[np.ndarray, np.ndarray] | None:
    """The calls of the threads that talked to a nameserver, in their row order, with their
    kind: `_DNS` (a call on a resolver socket, or with a port-53 address), `_CONF` (the
    resolver's configuration files, the nscd socket), `_UDP` (another UDP socket, e.g. one
    not connected yet), `_OTHER` (a call elsewhere: on another fd, or a sleep, child wait or
    epoll wait), -1 (says nothing: no fd, or a close). None without resolver traffic.

    The whole trace is looked at a slice at a time, for the threads that talked to a
    nameserver; the rest only on those threads' calls."""
    calls = trace.syscalls
    if calls.num_rows == 0:
        return None
    resolving: set[float] = set()
    for offset, part in call_slices.slices(calls, ["target", "fd", "args", "tid"]):
        dns = _dns_rows(part, *_slice_targets(trace, offset, part))
        if dns.any():
            resolving.update(numbers(part["tid"].filter(pa.array(dns))).tolist())
    if not resolving:
        return None
    resolvers = np.unique(np.array(sorted(resolving), dtype=np.float64))
    rows = strace_slices.rows_where(
        calls, ["tid"], lambda part: np.isin(numbers(part["tid"]), resolvers)
    )
    table = strace_slices.take(calls, ["syscall", "args", "fd", "target"], rows)
    dns, encoded = _dns_calls(table, with_paths(table))
    codes = encoded.codes
    udp_codes = np.array([cls == "udp" for cls in encoded.classes] + [False], dtype=bool)
    conf_codes = np.array([name in DNS_FILES for name in encoded.names] + [False], dtype=bool)
    connects = _any_equal(table["syscall"], ("connect",))
    nscd = np.zeros(len(rows), dtype=bool)
    if connects.any():
        nscd[connects] = filled_numpy(
            pc.match_substring(table["args"].filter(pa.array(connects)), _NSCD), False
        )
    kind = np.full(len(rows), -1, dtype=np.int64)
    has_fd = np.asarray(table["fd"].is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    away = (has_fd & ~_any_equal(table["syscall"], _NEUTRAL)) | _any_equal(table["syscall"], _AWAY)
    kind[away] = _OTHER
    kind[udp_codes[codes]] = _UDP
    kind[conf_codes[codes] | nscd] = _CONF
    kind[dns] = _DNS
    keep = kind >= 0
    return rows[keep], kind[keep]


def lookups(trace: StraceTables) -> list[Lookup]:
    """The name lookups of one trace that asked a nameserver (see the module docstring)."""
    if trace.first_s is None:
        return []
    found = _resolver_rows(trace)
    if found is None:
        return []
    rows, kinds = found
    calls = trace.syscalls
    tids = strace_slices.values_at(calls, "tid", rows)
    starts, ends = strace_slices.times_at(calls, rows, trace.last_s)
    order = np.lexsort((rows, starts, tids))
    rows, starts, ends, kinds = rows[order], starts[order], ends[order], kinds[order]
    row_tids = tids[order]
    # segment boundaries: a new thread, a call elsewhere, the config read again after DNS,
    # or a long time away from the resolver
    previous_kind = np.concatenate([[-1], kinds[:-1]])
    previous_end = np.concatenate([[np.nan], ends[:-1]])
    new_thread = np.concatenate([[True], row_tids[1:] != row_tids[:-1]])
    resolver = kinds != _OTHER
    starts_segment = resolver & (
        new_thread
        | (previous_kind == _OTHER)
        | ((kinds == _CONF) & np.isin(previous_kind, (_DNS, _UDP)))
        | (starts - previous_end > MAX_GAP_S)
    )
    segment = np.cumsum(starts_segment) - 1
    keep = resolver & (segment >= 0)
    rows, starts, ends, kinds, segment = (
        rows[keep],
        starts[keep],
        ends[keep],
        kinds[keep],
        segment[keep],
    )
    with_dns = np.unique(segment[kinds == _DNS])
    keep = np.isin(segment, with_dns)
    rows, starts, ends, kinds, segment = (
        rows[keep],
        starts[keep],
        ends[keep],
        kinds[keep],
        segment[keep],
    )
    if len(rows) == 0:
        return []
    return _describe(trace, rows, starts, ends, kinds, segment)


def _describe(
    trace: StraceTables,
    rows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    kinds: np.ndarray,
    segment: np.ndarray,
) -> list[Lookup]:
    """The Lookup of each segment, read call by call (only resolver calls: few)."""
    calls = strace_slices.take(
        trace.syscalls,
        [
            "tid", "pid", "syscall", "args", "retval", "aux", "status", "line_start",
            "line_end", "target", "fd",
        ],
        rows,
    )  # fmt: skip
    lines = cited_lines(calls)
    encoded = encode_resources(with_paths(calls))
    codes = encoded.codes
    columns = {
        name: calls[name].to_pylist() for name in ("tid", "pid", "syscall", "args", "retval")
    }
    status = calls["status"].to_pylist()
    found: list[Lookup] = []
    current: Lookup | None = None
    for i in range(len(rows)):
        if current is None or segment[i] != segment[i - 1]:
            first = i
            last = int(np.searchsorted(segment, segment[i], side="right")) - 1
            end = float(np.nanmax(ends[first : last + 1]))
            current = Lookup(
                tid=int(columns["tid"][i]),
                pid=columns["pid"][i],
                start=float(starts[first]),
                end=end,
                line=int(lines[first]),
                ongoing=any(s in ("in-flight", "detached") for s in status[first : last + 1]),
            )
            found.append(current)
        syscall = columns["syscall"][i]
        args = columns["args"][i] or ""
        retval = columns["retval"][i]
        code = int(codes[i])
        resource = encoded.names[code] if code >= 0 else None
        target_class = encoded.classes[code] if code >= 0 else None
        peer = _peer_of(resource, target_class, args) if kinds[i] == _DNS else None
        if peer is None and kinds[i] == _UDP and syscall in _WAITS and current.peers:
            # a wait on an unconnected resolver socket (musl): for the last nameserver asked
            peer = current.peers[-1]
        if peer is None:
            continue
        if peer not in current.peers:
            current.peers.append(peer)
        over_tcp = peer.startswith("tcp")
        if syscall == "connect":
            current.sockets += 1
        elif syscall == "sendmmsg" or syscall in _SENDS:
            if retval is None or retval < 0:
                continue
            payloads = _queries(syscall, args, int(retval), over_tcp)
            current.messages_sent += len(payloads)
            current.sent_by_peer[peer] += len(payloads)
            for payload in payloads:
                message = dns_message(payload)
                if message is None:
                    continue
                if message.rcode is not None:
                    current.answers_sent += 1  # a server's answer, not a lookup
                current.query_ids.add(message.id)
                if message.name and message.name not in current.names:
                    current.names.append(message.name)
        elif syscall in _RECEIVES and retval is not None and retval > 0:
            quoted = _QUOTED.search(args)
            data = unescape(quoted.group(1)) if quoted else b""
            current.wait_by_peer[peer] += float(ends[i] - starts[i])
            if over_tcp and retval <= 2:
                continue  # the length of a TCP answer: the answer follows
            message = dns_message(data, over_tcp and _length_prefixed(data, retval))
            current.answers += 1
            current.answers_by_peer[peer] += 1
            if message is not None and message.rcode is not None:
                rcode = RCODES.get(message.rcode, f"rcode {message.rcode}")
                current.rcodes[rcode] += 1
                if message.rcode == 3 and message.name:
                    current.nxdomain_names.add(message.name)
        elif syscall in _WAITS:
            current.wait_by_peer[peer] += float(ends[i] - starts[i])
            if retval == 0:
                current.timeouts += 1
                current.timeouts_by_peer[peer] += 1
                timeout = _wait_timeout_s(syscall, args)
                if timeout is not None:
                    current.timeout_args_s.append(timeout)
    return found


def resolv_conf(trace: StraceTables) -> dict[str, Any]:
    """What the trace shows of /etc/resolv.conf: the options and search list of the text a
    `read` returned (as far as strace's `-s` limit printed it)."""
    calls = trace.syscalls
    reading = frozenset({"read", "pread64"})
    rows = strace_slices.rows_where(
        calls,
        ["syscall", "target"],
        lambda part: (
            is_in(part["syscall"], reading)
            & filled_numpy(pc.equal(part["target"], "/etc/resolv.conf"), False)
        ),
    )
    seen: dict[str, Any] = {}
    for args in strace_slices.take(calls, ["args"], rows[:20])["args"].to_pylist():
        quoted = _QUOTED.search(args or "")
        if not quoted:
            continue
        text = unescape(quoted.group(1)).decode("utf-8", "replace")
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] in ("search", "domain") and len(words) > 1:
                seen["search"] = words[1:]
            elif words[0] == "nameserver" and len(words) > 1:
                seen.setdefault("nameservers", [])
                if words[1] not in seen["nameservers"]:
                    seen["nameservers"].append(words[1])
            elif words[0] == "options":
                for name, value in _RESOLV_OPTIONS.findall(line):
                    seen[name] = int(value)
    return seen


def _loop_tids(earlier: Iterable[Finding], trace_input: str) -> set[int]:
    """Event-loop threads of this input that an earlier blocked_loop finding counts."""
    return {
        int(finding.evidence["loop_tid"])
        for finding in earlier
        if finding.kind == "blocked_loop"
        and finding.input == trace_input
        and finding.evidence.get("loop_tid") is not None
    }


def _seconds(value: float) -> str:
    return (
        f"{value * 1e3:.0f} ms"
        if value < 1
        else f"{value:.3f} s"
        if value < 10
        else (f"{value:.1f} s")
    )


def _usual(values: list[int]) -> int:
    """The most common value (the first seen among equals)."""
    return Counter(values).most_common(1)[0][0] if values else 0


@dataclass(frozen=True)
class _Group:
    """What the lookups through one nameserver add up to."""

    nameserver: str
    lookups: list[Lookup]
    durations: np.ndarray
    per_peer: dict[str, dict[str, Any]]
    pid_time: dict[int, float]
    timeouts: int
    timed_out: int
    resolver_timeout_s: float | None
    sent: int
    distinct: int
    names: int
    rcodes: Counter[str]

    @staticmethod
    def of(nameserver: str, group: list[Lookup]) -> _Group:
        per_peer: dict[str, dict[str, Any]] = {}
        pid_time: defaultdict[int, float] = defaultdict(float)
        rcodes: Counter[str] = Counter()
        for lookup in group:
            if lookup.pid is not None:
                pid_time[int(lookup.pid)] += lookup.duration_s
            rcodes.update(lookup.rcodes)
            for peer in lookup.peers:
                row = per_peer.setdefault(
                    peer,
                    {"nameserver": peer.split(" ", 1)[1], "queries": 0, "answers": 0,
                     "timeouts": 0, "wait_s": 0.0},
                )  # fmt: skip
                row["queries"] += lookup.sent_by_peer[peer]
                row["answers"] += lookup.answers_by_peer[peer]
                row["timeouts"] += lookup.timeouts_by_peer[peer]
                row["wait_s"] += lookup.wait_by_peer[peer]
        waited = [t for lookup in group for t in lookup.timeout_args_s]
        return _Group(
            nameserver=nameserver,
            lookups=group,
            durations=np.array([lookup.duration_s for lookup in group]),
            per_peer=per_peer,
            pid_time=dict(pid_time),
            timeouts=sum(lookup.timeouts_by_peer[nameserver] for lookup in group),
            timed_out=sum(1 for lookup in group if lookup.timeouts_by_peer[nameserver]),
            resolver_timeout_s=Counter(waited).most_common(1)[0][0] if waited else None,
            sent=sum(lookup.messages_sent for lookup in group),
            distinct=sum(len(lookup.query_ids) for lookup in group),
            names=sum(max(len(lookup.names), lookup.sockets, 1) for lookup in group),
            rcodes=rcodes,
        )

    @property
    def address(self) -> str:
        return self.nameserver.split(" ", 1)[1]

    @property
    def answered_elsewhere(self) -> list[str]:
        """Other nameservers that answered, when this one answered nothing."""
        if self.per_peer[self.nameserver]["answers"]:
            return []
        return [
            row["nameserver"]
            for peer, row in self.per_peer.items()
            if peer != self.nameserver and row["answers"]
        ]

    @property
    def search_list(self) -> tuple[int, int, int, int] | None:
        """(names, NXDOMAIN names, queries, sockets) of a usual lookup when lookups asked
        several names: the search list was applied."""
        names = _usual([len(lookup.names) for lookup in self.lookups])
        if names < 2:
            return None
        return (
            names,
            _usual([len(lookup.nxdomain_names) for lookup in self.lookups]),
            _usual([lookup.messages_sent for lookup in self.lookups]),
            _usual([lookup.sockets for lookup in self.lookups]),
        )


def _message(group: _Group, loop_tids: list[int]) -> str:
    lookups, durations = group.lookups, group.durations
    count, total, median = len(lookups), float(durations.sum()), percentile(durations, 50)
    tids = sorted({lookup.tid for lookup in lookups})
    where = f"nameserver {group.address}"
    threads = f"on thread {tids[0]}" if len(tids) == 1 else f"on {plural(len(tids), 'thread')}"
    if len(group.pid_time) == 1:
        threads += f" of pid {next(iter(group.pid_time))}"
    elif group.pid_time:
        threads += f" of {plural(len(group.pid_time), 'process')}"
    if count == 1:
        head = f"1 name lookup took {_seconds(total)} {threads}"
    elif float(durations.max() - durations.min()) <= 0.1 * median:
        each = f"{median:.1f} s" if median >= 1 else _seconds(median)
        head = f"{count} name lookups took {each} each ({_seconds(total)} in all) {threads}"
    else:
        head = (
            f"{count} name lookups took {_seconds(total)} in all {threads} (median "
            f"{_seconds(median)}, max {_seconds(float(durations.max()))})"
        )
    timeout = (
        f"resolver timeout {group.resolver_timeout_s:g} s"
        if group.resolver_timeout_s is not None
        else "no answer"
    )
    answered = (
        f", then answered by nameserver {', '.join(group.answered_elsewhere)}"
        if group.answered_elsewhere
        else ", then answered at once"
        if group.per_peer[group.nameserver]["answers"]
        else ""
    )
    if group.timeouts and group.timed_out == count == group.timeouts:
        cause = (
            f"every lookup's first query timed out ({timeout}) on {where} and was resent{answered}"
        )
    elif group.timeouts:
        cause = (
            f"{group.timed_out} of them waited out the {timeout} on {where} "
            f"({plural(group.timeouts, 'timeout')}) and resent their queries"
        )
    else:
        per_name = group.per_peer[group.nameserver]["wait_s"] / max(group.names, 1)
        cause = f"{where} took {_seconds(per_name)} to answer each name asked"
    message = f"{head}: {cause}."
    if searched := group.search_list:
        names, nxdomain, queries, sockets = searched
        example = max(lookups, key=lambda lookup: (len(lookup.names), lookup.duration_s))
        message += (
            f" Each lookup asked {names} names ({queries} queries on "
            f"{plural(sockets, 'socket')}) and {nxdomain} of them came back NXDOMAIN: the "
            f"name has fewer dots than `ndots`, so the `search` suffixes were tried before the "
            f"name itself ({', '.join(example.names)})."
        )
    resent = group.sent - group.distinct
    if resent > 0:
        message += (
            f" {resent} {'query was' if resent == 1 else 'queries were'} sent again "
            f"({group.sent} sent, {group.distinct} distinct)."
        )
    if loop_tids:
        message += (
            f" The lookups on event-loop thread{'s' if len(loop_tids) > 1 else ''} "
            f"{', '.join(map(str, loop_tids))} blocked the loop: the blocked_loop finding "
            "counts that time."
        )
    return message


def _fix(group: _Group, on_loop: bool) -> str:
    where = f"nameserver {group.address}"
    host = group.address.rsplit(":", 1)[0].strip("[]")
    searched = group.search_list is not None
    fixes = []
    if group.timeouts and group.answered_elsewhere:
        fixes.append(
            f"{where} does not answer, and every lookup waits out its timeout before asking "
            f"{', '.join(group.answered_elsewhere)}: fix it or take it out of "
            "/etc/resolv.conf (glibc asks the nameservers in order; `options rotate` only "
            "spreads the wait), and keep `options timeout:` and `attempts:` low"
        )
    elif group.timeouts:
        fixes.append(
            f"{where} loses queries: check its health and load (its drops, `dig @{host}` "
            "latency), add a second nameserver with `options rotate`, and keep `options "
            "timeout:` and `attempts:` low so that a lost query costs less"
        )
    elif not searched:
        fixes.append(f"{where} answers slowly: check its load and its upstream resolvers")
    if searched:
        last = group.lookups[0].names[-1] if group.lookups[0].names else "name."
        fixes.append(
            "skip the search list: use the fully-qualified name with a trailing dot "
            f"(`{last}`) or lower `options ndots:` (Kubernetes: `dnsConfig.options ndots:1`)"
        )
    fixes.append(
        "cache the answers (a local caching resolver: nscd, systemd-resolved or dnsmasq, or "
        "in the process) and resolve once instead of per request"
    )
    if on_loop:
        fixes.append(
            "on an event loop resolve with `await loop.getaddrinfo()` (it runs in a thread), "
            "not socket.getaddrinfo()"
        )
    text = "; ".join(fixes) + "."
    return text[0].upper() + text[1:]


def _group_finding(
    trace: StraceTables,
    group: _Group,
    loop_tids: set[int],
    config: PassConfig,
    conf: dict[str, Any],
) -> Finding:
    lookups, durations = group.lookups, group.durations
    tids = sorted({lookup.tid for lookup in lookups})
    on_loops = sorted(set(tids) & loop_tids)
    cost = float(sum(lookup.duration_s for lookup in lookups if lookup.tid not in loop_tids))
    pid = max(group.pid_time, key=lambda p: group.pid_time[p]) if group.pid_time else None
    slow_total = float(durations[durations >= SLOW_LOOKUP_S].sum())
    if group.timeouts or float(durations.max()) >= 1.0:
        severity: Severity = "error"
    elif slow_total >= WARNING_TOTAL_S:
        severity = "warning"
    else:
        severity = "info"
    order = np.argsort(-durations, kind="stable")[:MAX_LISTED]
    examples = [
        {
            "tid": lookups[i].tid,
            "pid": lookups[i].pid,
            "start": lookups[i].start,
            "duration_s": lookups[i].duration_s,
            "line": lookups[i].line,
            "queries": lookups[i].messages_sent,
            "timeouts": lookups[i].timeouts,
            "names": lookups[i].names,
            "nxdomain_names": len(lookups[i].nxdomain_names),
            "sockets": lookups[i].sockets,
            "ongoing": lookups[i].ongoing,
        }
        for i in sorted(order.tolist(), key=lambda i: lookups[i].start)
    ]
    searched = group.search_list
    evidence: dict[str, Any] = {
        "nameserver": group.address,
        "resource": group.nameserver,
        "lookups": len(lookups),
        "slow_lookups": int((durations >= SLOW_LOOKUP_S).sum()),
        "lookup_s": {
            "min": float(durations.min()),
            "p50": percentile(durations, 50),
            "max": float(durations.max()),
            "total": float(durations.sum()),
        },
        "threads": tids[: config.max_samples * 4],
        "thread_count": len(tids),
        "pids": sorted(group.pid_time),
        "loop_tids": on_loops,
        "off_loop_s": cost,
        "queries": group.sent,
        "distinct_queries": group.distinct,
        "retransmits": max(group.sent - group.distinct, 0),
        "answers": sum(lookup.answers for lookup in lookups),
        "rcodes": dict(sorted(group.rcodes.items())),
        "timeouts": group.timeouts,
        "timed_out_lookups": group.timed_out,
        "resolver_timeout_s": group.resolver_timeout_s,
        "nameservers": list(group.per_peer.values()),
        "names_per_lookup": searched[0] if searched else 1,
        "nxdomain_names_per_lookup": searched[1] if searched else 0,
        "queries_per_lookup": _usual([lookup.messages_sent for lookup in lookups]),
        "resolv_conf": conf,
        "threshold_s": SLOW_LOOKUP_S,
        "examples": examples,
    }
    worst = lookups[int(order[0])]
    return Finding(
        code=CODE,
        kind=KIND,
        severity=severity,
        title=f"Slow name lookups on nameserver {group.address}",
        message=_message(group, on_loops),
        evidence=evidence,
        fix=_fix(group, bool(on_loops)),
        input=trace.input,
        pid=pid if len(group.pid_time) == 1 else None,
        tid=tids[0] if len(tids) == 1 else None,
        start=worst.start,
        duration_s=worst.duration_s,
        cost_s=cost,
        lines=tuple(item["line"] for item in examples),
        culprit=Culprit(
            pid=pid,
            tid=tids[0] if len(tids) == 1 else None,
            role="the process whose name lookups wait for the nameserver",
        ),
        resource=Resource(kind="dns", key=group.nameserver, text=f"nameserver {group.nameserver}"),
        explains=(
            Explains(key=group.nameserver, kind="slow_syscall"),
            Explains(key=group.nameserver, kind="thread_pileup"),
        ),
    )


def trace_findings(
    trace: StraceTables, config: PassConfig, loop_tids: set[int] | None = None
) -> list[Finding]:
    """The slow_dns findings of one trace."""
    found = lookups(trace)
    groups: dict[str, list[Lookup]] = {}
    for lookup in found:
        if lookup.nameserver is not None and lookup.asks:
            groups.setdefault(lookup.nameserver, []).append(lookup)
    findings = []
    conf: dict[str, Any] | None = None
    for nameserver, group in groups.items():
        durations = [lookup.duration_s for lookup in group]
        if max(durations) < SLOW_LOOKUP_S and not any(
            lookup.timeouts_by_peer[nameserver] for lookup in group
        ):
            continue
        if conf is None:
            conf = resolv_conf(trace)
        findings.append(
            _group_finding(trace, _Group.of(nameserver, group), loop_tids or set(), config, conf)
        )
    findings.sort(key=lambda finding: -finding.evidence["lookup_s"]["total"])
    return findings


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    return [
        finding
        for trace in inputs.traces
        for finding in trace_findings(trace, config, _loop_tids(inputs.earlier, trace.input))
    ]


PASS = Pass(CODE, KIND, run, __doc__ or "", after=("blocked_loop",))
