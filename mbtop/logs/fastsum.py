"""Summaries of large logs at bytes level, on every core.

The full parsers build one event per line (~10 µs each); a summary of a
million-line log needs far less.  Here each line is looked at as bytes: the
most frequent, simple shapes (connect, disconnect, client=, message-id, qmgr,
delivery status, postscreen verdicts, well-formed access lines) are counted
directly, and every other line goes through the full parser, so the result is
the same by construction (tests compare both on the same logs).  The file is
split at line boundaries into one range per core.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import TypeVar

from mbtop.logs import nginx
from mbtop.logs.events import number
from mbtop.logs.own import AGENT, host_addresses
from mbtop.logs.postfix import PostfixParser, normalise_ip
from mbtop.logs.summary import MailSummary, WebSummary

S = TypeVar("S", MailSummary, WebSummary)
OWN_AGENT = f'"{AGENT}"'.encode()
MIN_PARALLEL = 8 * 1024 * 1024  # bytes: below this, starting workers costs more than it saves

_CONNECT = re.compile(rb"connect from [^\[\]\s]*\[([^\]\s]+)\]")
_DELIVERY = frozenset({b"smtp", b"lmtp", b"local", b"virtual", b"pipe", b"error", b"retry", b"discard", b"relay"})
_PS_ADDR = re.compile(rb"\[[^\]\s]+\]:\d+")
_PS_SIMPLE = {
    b"CONNECT from ": "CONNECT",
    b"PASS OLD ": "PASS OLD",
    b"PASS NEW ": "PASS NEW",
    b"DISCONNECT ": "DISCONNECT",
}
_QID = re.compile(rb"[0-9A-Za-z]{6,20}: ")
_LOST = re.compile(rb"lost connection after \S+(?: \(.*?\))? from [^\[\]\s]*\[[^\]\s]+\]")
_PREGREET = re.compile(rb"PREGREET \d+ after \S+ from \[[^\]\s]+\]:\d+")
_CLIENT_EQ = re.compile(rb"client=[^\[\]\s]*\[[^\]\s]+\]")


# One regex classifies every line of a block in C: the frequent, simple shapes of Postfix's own lines
# (the syslog prefix anchored, so text inside another program's message cannot pass for them), and
# any other line whole, for the full parser.  Identical tuples are then counted, not looped over.
_HEAD = (
    rb"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?"
    rb"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    rb" \S++ postfix[^\s\[\]:/]*+/(?:[^\s\[\]:/]++/)*+"
)
# The program field without backtracking: possessive runs (*+, ++) where what follows cannot be
# part of the run, and the "/" after each name matched with it. A quarter less time per line than
# "postfix[^...]*(?:/[^...]+)*/", which matched "/smtpd" and then gave it back on every line.
_Q = rb"[0-9A-Za-z]{6,32}: "


@lru_cache(maxsize=4)
def lines_pattern(local: frozenset[str]) -> re.Pattern[bytes]:
    """The classifier, knowing this host's addresses: a disconnect or TLS line from one of them may be a
    health check's, which only the full parser and MailSummary decide, so those go the slow way (they
    are few: a check every 15 s); the address test is a lookahead at the address's first bytes."""
    mine = b"".join(b"|" + re.escape(a.encode()) for a in sorted(local))
    remote = rb"(?!(?:[Ii][Pp][Vv]6:)?(?:127\.[0-9.]*|::1|::ffff:127\.[0-9.]*" + mine + rb")\])"
    return re.compile(
        _HEAD + rb"(?:"
        rb"smtpd\[\d+\]: (?:connect from [^\[\]\s]*\[(?P<ip>[^\]\s]+)\]"
        rb"|(?P<disconnect>d)isconnect from [^\[\]\s]*\[" + remote + rb"[^\n]*"
        rb"|(?P<lost_connection>l)ost connection after \S+(?: \(.*?\))? from [^\[\]\s]*\[[^\]\s]+\][^\n]*"
        rb"|" + _Q + rb"(?P<client>c)lient=[^\[\]\s]*\[[^\]\s]+\]"
        rb"|(?P<trust>Anonymous|Trusted|Untrusted|Verified) TLS connection established from [^\[\]\s]*\["
        + remote
        + rb"(?P<tip>[^\]\s]+)\]: \S+ with cipher \S+ \(\d+/\d+ bits\)[^\n]*)"
        rb"|postscreen\[\d+\]: (?:(?P<ps>CONNECT from |PASS OLD |PASS NEW |DISCONNECT )\[[^\]\s]+\]:\d+[^\n]*"
        rb"|(?P<pregreet>P)REGREET \d+ after \S+ from \[[^\]\s]+\]:\d+[^\n]*)"
        rb"|(?:smtp|lmtp|local|virtual|pipe|error|retry|discard|relay)\[\d+\]: "
        + _Q
        + rb"to=<[^\n]*?, status=(?P<status>[^ \r\n]+)[^\n]*"
        rb"|qmgr\[\d+\]: "
        + _Q
        + rb"(?:(?P<removed>r)emoved|(?P<qmgr>f)rom=<[^>\n]*>, size=\d+, nrcpt=\d+ \(queue active\))"
        rb"|cleanup\[\d+\]: " + _Q + rb"(?P<cleanup>m)essage-id=[^\n]*"
        rb")\r?$|^(?P<other>[^\n]*)$",
        re.M,
    )


_PS_ACTION = {
    b"CONNECT from ": "CONNECT",
    b"PASS OLD ": "PASS OLD",
    b"PASS NEW ": "PASS NEW",
    b"DISCONNECT ": "DISCONNECT",
}


def _postfix_range(path: str, start: int, end: int, year: int | None) -> MailSummary:
    """One range of a Postfix log, classified block by block (see ``lines_pattern``)."""
    s = MailSummary()
    slow = PostfixParser(year)
    pattern = lines_pattern(host_addresses())
    g = {name: index - 1 for name, index in pattern.groupindex.items()}
    line_no = 0
    counts: Counter[tuple[bytes, ...]] = Counter()
    for block in _BlockIter(path, start, end):
        tuples = pattern.findall(block)
        line_no += len(tuples)
        counts.update(tuples)
    kinds: Counter[str] = Counter()
    for tup, n in counts.items():
        if tup[g["other"]] or not any(tup):
            line = tup[g["other"]][:65536].rstrip(b"\r")
            ev = slow.parse(line.decode("utf-8", "replace"), 0)
            for _ in range(n):
                s.add(ev)
            continue
        s.lines += n
        if tup[g["ip"]]:
            kinds["connect"] += n
            ip = normalise_ip(tup[g["ip"]].decode("ascii", "replace"))
            if ip is not None:
                s.connects[ip] += n
        elif tup[g["status"]]:
            kinds["delivery"] += n
            status = tup[g["status"]]
            if status == b"sent":
                s.delivered += n
            elif status == b"deferred":
                s.deferred += n
            elif status == b"bounced":
                s.bounced += n
            elif status == b"expired":
                s.expired += n
        elif tup[g["ps"]]:
            kinds["postscreen"] += n
            s.postscreen[_PS_ACTION[tup[g["ps"]]]] += n
        elif tup[g["pregreet"]]:
            kinds["postscreen"] += n
            s.postscreen["PREGREET"] += n
        elif tup[g["client"]]:
            kinds["client"] += n
            s.received += n
        elif tup[g["trust"]]:
            kinds["tls"] += n
            tip = normalise_ip(tup[g["tip"]].decode("ascii", "replace"))
            s.add_tls(tup[g["trust"]].decode(), tip, None, n)  # not from this host: no check's
        else:
            for kind in ("disconnect", "lost_connection", "removed", "qmgr", "cleanup"):
                if tup[g[kind]]:
                    kinds[kind] += n
                    break
    s.kinds.update(kinds)
    return s


def _nginx_range(path: str, start: int, end: int, year: int | None) -> WebSummary:
    s = WebSummary()
    line_no = 0
    for line in _lines(path, start, end):
        line_no += 1
        if _nginx_fast(s, line):
            continue
        s.add(nginx.parse(line.decode("utf-8", "replace"), line_no))
    return s


def _nginx_fast(s: WebSummary, line: bytes) -> bool:
    """A well-formed combined/main access line with a plain request; anything else: the full parser."""
    sp = line.find(b" ")
    q1 = line.find(b'] "', sp)
    if sp <= 0 or q1 < 0:
        return False
    q2 = line.find(b'" ', q1 + 3)
    if q2 < 0 or b"\\" in line[q1:q2]:
        return False
    req = line[q1 + 3 : q2].split(b" ")
    if len(req) != 3 or not req[0].isalpha() or not req[0].isupper() or not req[2].startswith(b"HTTP/"):
        return False
    tail = line[q2 + 2 :].split(b" ", 2)
    if len(tail) < 2 or len(tail[0]) != 3 or not tail[0].isdigit():
        return False
    size = tail[1]
    nbytes = number(size)
    if nbytes is None and size != b"-":
        return False
    if len(tail) == 3 and not tail[2].startswith(b'"'):
        return False
    ip = normalise_ip(line[:sp].decode("ascii", "replace"))
    if ip is None or OWN_AGENT in line:  # a virtual host first, or mbtop's own check: the full parser
        return False
    status = int(tail[0])
    s.lines += 1
    s.requests += 1
    s.statuses[status] += 1
    s.status_classes[f"{status // 100}xx"] += 1
    if nbytes:
        s.bytes += nbytes
    s.clients[ip] += 1
    s.paths[req[1].split(b"?", 1)[0].decode("utf-8", "replace")] += 1
    return True


class _BlockIter:
    """Blocks of whole lines (the last one without its newline) in [start, end) of a file."""

    def __init__(self, path: str, start: int, end: int, block: int = 8 * 1024 * 1024) -> None:
        self.path, self.start, self.end, self.block = path, start, end, block

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            left = self.end - self.start
            carry = b""
            while left > 0:
                data = fh.read(min(self.block, left))
                if not data:
                    break
                left -= len(data)
                data = carry + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                carry = data[cut + 1 :]
                yield data[:cut]
            if carry:
                yield carry


def _lines(path: str, start: int, end: int) -> Iterator[bytes]:
    """Lines of bytes in [start, end) of a file (cut at 64 KiB, without CR); invalid bytes are left
    for the decoder."""
    for block in _BlockIter(path, start, end):
        for line in block.split(b"\n"):
            yield line[:65536].rstrip(b"\r")


def _ranges(path: str, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges that start at line boundaries."""
    size = os.path.getsize(path)
    if parts <= 1 or size < MIN_PARALLEL:
        return [(0, size)]
    bounds = [0]
    with open(path, "rb") as fh:
        for k in range(1, parts):
            fh.seek(size * k // parts)
            fh.readline()
            bounds.append(min(fh.tell(), size))
    bounds.append(size)
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def summarize(path: str, fmt: str, year: int | None = None, workers: int | None = None) -> MailSummary | WebSummary:
    func: Callable[[str, int, int, int | None], MailSummary | WebSummary]
    func = _nginx_range if fmt == "nginx" else _postfix_range
    total: MailSummary | WebSummary = WebSummary() if fmt == "nginx" else MailSummary()
    ranges = _ranges(path, workers if workers is not None else (os.cpu_count() or 1))
    if fmt != "nginx":
        lines_pattern(host_addresses())  # compiled once, before the workers fork
    if len(ranges) == 1:
        total.merge(func(path, *ranges[0], year))  # type: ignore[arg-type]
        return total
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(len(ranges)) as pool:
        for part in pool.starmap(func, [(path, a, b, year) for a, b in ranges]):
            total.merge(part)  # type: ignore[arg-type]
    return total
