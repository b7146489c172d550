"""Skipping the rules a sender cannot meet: a long list of source addresses in one chain.

fail2ban's iptables actions (Debian's default) insert one ``-s ADDRESS -j
REJECT`` rule per ban into its ``f2b-*`` chain, and a busy gateway holds
thousands; walking them one by one for every sender, port and interface is
quadratic.  A rule whose first match only lets in senders inside some
networks (``Match.within``) says "no" to any other sender before anything
else is tested, with no side effect (no rate noted, no undecidable match
asked), so passing over it changes nothing.  For each run of such rules this
indexes, per address, the rules whose networks hold it; the walk goes
straight to the next of them.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MIN_RUN = 16  # shorter runs are walked as they are
MAX_COVER = 200_000  # (segment, rule) pairs per run: past that the run is walked as it is


class _Match(Protocol):
    @property
    def within(self) -> tuple[IPNetwork, ...]: ...


class _Rule(Protocol):
    @property
    def matches(self) -> Sequence[_Match]: ...


@dataclass(frozen=True, slots=True)
class Run:
    start: int
    end: int  # exclusive
    bounds: dict[int, list[int]]  # family -> segment starts
    rules: dict[int, list[list[int]]]  # family -> per segment, the rules (indices) whose networks hold it


def _run(rules: Sequence[_Rule], start: int, end: int) -> Run | None:
    bounds: dict[int, list[int]] = {}
    held: dict[int, list[list[int]]] = {}
    for family in (4, 6):
        spans = [
            (i, int(n.network_address), int(n.broadcast_address))
            for i in range(start, end)
            for n in rules[i].matches[0].within
            if n.version == family
        ]
        cuts = sorted({x for _, lo, hi in spans for x in (lo, hi + 1)})
        segs: list[list[int]] = [[] for _ in cuts]
        cover = 0
        for i, lo, hi in spans:  # in rule order: each segment's list stays sorted
            first, last = bisect.bisect_left(cuts, lo), bisect.bisect_left(cuts, hi + 1)
            cover += last - first
            if cover > MAX_COVER:
                return None
            for s in range(first, last):
                segs[s].append(i)
        bounds[family], held[family] = cuts, segs
    return Run(start, end, bounds, held)


def runs(rules: Sequence[_Rule]) -> tuple[Run, ...]:
    """The runs of at least ``MIN_RUN`` consecutive rules that start with a ``within`` match, indexed."""
    out: list[Run] = []
    i = 0
    while i < len(rules):
        j = i
        while j < len(rules) and rules[j].matches and rules[j].matches[0].within:
            j += 1
        if j - i >= MIN_RUN and (run := _run(rules, i, j)) is not None:
            out.append(run)
        i = j + 1 if j == i else j
    return tuple(out)


def next_rule(indexed: tuple[Run, ...], i: int, saddr: IPAddress) -> int:
    """The index of the next rule from ``i`` on that ``saddr`` could meet (``i`` itself when not in a run)."""
    for run in indexed:
        if run.start <= i < run.end:
            cuts = run.bounds[saddr.version]
            seg = bisect.bisect_right(cuts, int(saddr)) - 1
            if seg < 0:
                return run.end
            candidates = run.rules[saddr.version][seg]
            k = bisect.bisect_left(candidates, i)
            return candidates[k] if k < len(candidates) else run.end
    return i
