"""Detection of top, ps thread-snapshot and pidstat inputs: each sniffer is confident on its
own captures and public samples, and gives 0 to every other fixture in the repository
(strace, perf script, asyncio logs, the other two snapshot formats) and to `seq`, `cat -n`
and `xxd -p` output.

Hand-written heads are marked as such."""

from __future__ import annotations

from types import ModuleType

import pytest

from analyzer.formats import pidstat, ps_threads, top
from analyzer.sources import SOURCES
from tests.snapshot_fixtures import captures, other_heads, public_samples

SNIFFERS: dict[str, ModuleType] = {"top": top, "ps_threads": ps_threads, "pidstat": pidstat}


@pytest.mark.slow
@pytest.mark.parametrize("own", list(SNIFFERS))
def test_no_other_fixture_is_taken_for_this_format(own: str) -> None:
    sniff = SNIFFERS[own].sniff
    heads = other_heads(own)
    assert len(heads) > 200
    accepted = [(name, score) for name, head in heads if (score := sniff(head)) > 0.0]
    assert accepted == []


@pytest.mark.parametrize("own", list(SNIFFERS))
def test_own_captures_and_samples_are_recognised(own: str) -> None:
    module = SNIFFERS[own]
    for path in captures(own) + public_samples(own):
        head = path.read_bytes()[:65536]
        score = module.sniff(head)
        if "zh_CN" in path.name or "grep" in path.name or "lstart-etime" in path.name:
            assert score == 0.0, path.name  # no time or header iodiag reads: see PROVENANCE.md
            continue
        assert score >= (0.7 if "graph" in path.name else 1.0), path.name
        for name, other in SNIFFERS.items():
            if name != own:
                assert other.sniff(head) == 0.0, (path.name, name)
        # No other registered source beats the snapshot format.
        for name, registered in SOURCES.items():
            if name != own:
                assert registered.sniff(head) <= score, (path.name, name)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\n \n",
        b"top - 08:14:40 up 11 min,  0 user,  load average: 1.20, 0.85, 0.41\n",
        b"  PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n",
        b"Linux 6.1.0 (vm) \t12/05/26 \t_x86_64_\t(2 CPU)\n\navg-cpu:  %user   %nice\n",
        b"1796458832\n",
    ],
    ids=["empty", "blank", "top-line-only", "top-header-only", "iostat-banner", "stamp-only"],
)
def test_hand_written_heads_without_rows_are_not_taken(head: bytes) -> None:
    # a summary line alone is top's (it is nothing else), but there is nothing to read
    expected_top = 1.0 if head.startswith(b"top - ") else 0.0
    assert top.sniff(head) == expected_top
    assert ps_threads.sniff(head) == 0.0
    assert pidstat.sniff(head) == 0.0
