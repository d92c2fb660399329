"""What an fd target is, in the words a finding needs: the class and the peer.

`fd_targets` already sorts targets into file/socket/pipe/device/anon; a diagnosis needs
finer classes (a TCP peer and a UNIX socket are different stories, as are an eventfd and an
epoll fd) and the resource two threads can share (the socket *peer*, not the local port).
Everything here is vectorised over Arrow string arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TARGET_CLASSES: tuple[tuple[str, str], ...] = (
    ("device", r"^/dev/|<(?:char|block) "),
    ("file", r"^/"),
    ("tcp", r"^TCP(?:v6)?:"),
    ("udp", r"^UDP(?:v6)?:"),
    ("unix", r"^UNIX"),
    ("netlink", r"^NETLINK"),
    ("socket", r"^(?:socket|RAW|SCTP|PACKET|L2TP)"),
    ("pipe", r"^pipe:"),
    ("eventfd", r"^anon_inode:\[eventfd\]"),
    ("epoll", r"^anon_inode:\[eventpoll\]"),
    ("timerfd", r"^anon_inode:\[timerfd\]"),
    ("signalfd", r"^anon_inode:\[signalfd\]"),
    ("anon", r"^anon_inode"),
    ("other", r"."),
)
"""(class, regex on the target text): the first match wins."""

_PEER = r"^(?P<proto>TCP|UDP|TCPv6|UDPv6):\[(?:[^\]]*?)->(?P<peer>[^\]]+)\]"
_LOCAL = r"^(?P<proto>TCP|UDP|TCPv6|UDPv6):\[(?P<local>[^\]\->]+:\d+)\]"


def target_classes(targets: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The class of each target text (see TARGET_CLASSES); null where the target is null."""
    targets = _flat(targets)
    classes = pa.nulls(len(targets), pa.string())
    for name, pattern in reversed(TARGET_CLASSES):
        matched = pc.fill_null(pc.match_substring_regex(targets, pattern), False)
        classes = pc.if_else(matched, pa.scalar(name), classes)
    return classes


def resources(targets: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The shared resource behind each target: ``tcp 127.0.0.1:5432`` for a connected
    socket (its peer, so workers with different local ports share it), the listening
    address for a bound socket, otherwise the target text itself."""
    targets = _flat(targets)
    peer = pc.extract_regex(targets, _PEER)
    local = pc.extract_regex(targets, _LOCAL)
    peer_text = pc.binary_join_element_wise(
        pc.utf8_lower(pc.struct_field(peer, "proto")), pc.struct_field(peer, "peer"), " "
    )
    local_text = pc.binary_join_element_wise(
        pc.utf8_lower(pc.struct_field(local, "proto")),
        pc.struct_field(local, "local"),
        " ",
    )
    return pc.coalesce(peer_text, local_text, targets)


_LINE_PIPE = re.compile(r"^pipe:\[L(\d+)\]$")
"""Pipes without -y are named after the line of the pipe() call that made them."""


def describe(target_class: str | None, resource: str | None) -> str:
    """A resource in plain words: ``TCP peer 127.0.0.1:5432``, ``file /var/log/x``."""
    if resource is None:
        return "an unknown fd" if target_class is None else f"an unresolved {target_class} fd"
    if made_at := _LINE_PIPE.match(resource):
        return f"the pipe made at line {made_at.group(1)}"
    words = {
        "tcp": "TCP peer",
        "udp": "UDP peer",
        "unix": "UNIX socket",
        "file": "file",
        "device": "device",
        "pipe": "pipe",
        "eventfd": "eventfd",
        "epoll": "epoll fd",
    }
    if target_class in ("tcp", "udp") and " " in resource:
        return f"{words[target_class]} {resource.split(' ', 1)[1]}"
    label = words.get(target_class or "")
    return f"{label} {resource}" if label and not resource.startswith(label) else resource


def _flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    return array


@dataclass(frozen=True)
class EncodedResources:
    """The resource of each row as an integer code, computed once per distinct target.

    A trace has millions of calls but few distinct targets, so the regexes run on the
    dictionary of targets only. `codes` is -1 where the row has no target.
    """

    codes: np.ndarray
    names: list[str]
    classes: list[str | None]


def encode_resources(targets: pa.Array | pa.ChunkedArray) -> EncodedResources:
    """Resource codes per row, with the resource names and target classes per code."""
    encoded = pc.dictionary_encode(_flat(targets))
    dictionary = encoded.dictionary
    if len(dictionary) == 0:
        return EncodedResources(np.full(len(encoded), -1, dtype=np.int64), [], [])
    target_codes = np.asarray(
        pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    resource_texts = resources(dictionary)
    resource_classes = target_classes(dictionary).to_pylist()
    names: list[str] = []
    classes: list[str | None] = []
    position: dict[str, int] = {}
    mapping = np.empty(len(dictionary), dtype=np.int64)
    for index, (name, target_class) in enumerate(
        zip(resource_texts.to_pylist(), resource_classes, strict=True)
    ):
        if name not in position:
            position[name] = len(names)
            names.append(name)
            classes.append(target_class)
        mapping[index] = position[name]
    codes = np.where(target_codes >= 0, mapping[np.maximum(target_codes, 0)], -1)
    return EncodedResources(codes, names, classes)
