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
from collections.abc import Callable, Iterator
from typing import TypeVar

from mbtop.logs import nginx
from mbtop.logs.postfix import PostfixParser, normalise_ip
from mbtop.logs.summary import MailSummary, WebSummary

S = TypeVar("S", MailSummary, WebSummary)
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


def _postfix_range(path: str, start: int, end: int, year: int | None) -> MailSummary:
    """One range of a Postfix log. The loop is written flat, with local counters, because it runs
    once per line of files with millions of lines: every attribute lookup shows in the benchmark."""
    s = MailSummary()
    slow = PostfixParser(year)
    kinds = dict.fromkeys(
        ("connect", "disconnect", "lost_connection", "client", "cleanup", "removed", "qmgr", "delivery", "postscreen"),
        0,
    )
    status_count: dict[bytes, int] = {}
    connects: dict[bytes, int] = {}
    postscreen: dict[str, int] = {}
    conn_match = _CONNECT.match
    qid_match = _QID.match
    client_full = _CLIENT_EQ.fullmatch
    ps_addr = _PS_ADDR.match
    lost_match = _LOST.match
    pregreet = _PREGREET.match
    delivery = _DELIVERY
    ps_simple = tuple(_PS_SIMPLE.items())
    line_no = 0
    fast = 0
    for line in _LineIter(path, start, end):
        line_no += 1
        parts = line.split(b"]: ", 1)
        if len(parts) == 2:
            head, msg = parts
            lb = head.rfind(b"[")
            sp = head.rfind(b" ", 0, lb)
            if head.startswith(b"postfix", sp + 1) and not msg.startswith((b"warning:", b"fatal:", b"panic:")):
                svc = head[head.rfind(b"/", sp, lb) + 1 : lb]
                if svc == b"smtpd":
                    if msg.startswith(b"connect from "):
                        m = conn_match(msg)
                        if m is not None and m.end() == len(msg):
                            ip = m.group(1)
                            connects[ip] = connects.get(ip, 0) + 1
                            kinds["connect"] += 1
                            fast += 1
                            continue
                    elif msg.startswith(b"disconnect from "):
                        kinds["disconnect"] += 1
                        fast += 1
                        continue
                    elif msg.startswith(b"lost connection after ") and lost_match(msg):
                        kinds["lost_connection"] += 1
                        fast += 1
                        continue
                    else:
                        m = qid_match(msg)
                        if m is not None and client_full(msg, m.end()):
                            kinds["client"] += 1
                            fast += 1
                            continue
                elif svc == b"postscreen":
                    hit = False
                    for prefix, action in ps_simple:
                        if msg.startswith(prefix) and ps_addr(msg, len(prefix)):
                            postscreen[action] = postscreen.get(action, 0) + 1
                            kinds["postscreen"] += 1
                            fast += 1
                            hit = True
                            break
                    if hit:
                        continue
                    if msg.startswith(b"PREGREET ") and pregreet(msg):
                        postscreen["PREGREET"] = postscreen.get("PREGREET", 0) + 1
                        kinds["postscreen"] += 1
                        fast += 1
                        continue
                else:
                    m = qid_match(msg)
                    if m is not None:
                        rest = msg[m.end() :]
                        if svc in delivery and rest.startswith(b"to=<"):
                            j = rest.find(b", status=")
                            if j >= 0:
                                st = rest[j + 9 :].split(b" ", 1)[0]
                                status_count[st] = status_count.get(st, 0) + 1
                                kinds["delivery"] += 1
                                fast += 1
                                continue
                        elif svc == b"qmgr":
                            if rest == b"removed":
                                kinds["removed"] += 1
                                fast += 1
                                continue
                            if rest.startswith(b"from=<") and b"status=" not in rest:
                                kinds["qmgr"] += 1
                                fast += 1
                                continue
                        elif svc == b"cleanup" and rest.startswith(b"message-id="):
                            kinds["cleanup"] += 1
                            fast += 1
                            continue
        s.add(slow.parse(line.decode("utf-8", "replace"), line_no))
    s.lines += fast
    s.received += kinds["client"]
    s.delivered += status_count.get(b"sent", 0)
    s.deferred += status_count.get(b"deferred", 0)
    s.bounced += status_count.get(b"bounced", 0)
    s.expired += status_count.get(b"expired", 0)
    s.kinds.update({k: v for k, v in kinds.items() if v})
    s.postscreen.update(postscreen)
    for raw, n in connects.items():
        ip = normalise_ip(raw.decode("ascii", "replace"))
        if ip is not None:
            s.connects[ip] += n
    return s


def _nginx_range(path: str, start: int, end: int, year: int | None) -> WebSummary:
    s = WebSummary()
    line_no = 0
    for line in _LineIter(path, start, end):
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
    if not (size.isdigit() or size == b"-"):
        return False
    if len(tail) == 3 and not tail[2].startswith(b'"'):
        return False
    ip = normalise_ip(line[:sp].decode("ascii", "replace"))
    status = int(tail[0])
    s.lines += 1
    s.requests += 1
    s.statuses[status] += 1
    s.status_classes[f"{status // 100}xx"] += 1
    if size != b"-":
        s.bytes += int(size)
    if ip:
        s.clients[ip] += 1
    s.paths[req[1].split(b"?", 1)[0].decode("utf-8", "replace")] += 1
    return True


class _LineIter:
    """Lines of bytes in [start, end) of a file, read in blocks; invalid bytes are left for the decoder."""

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
                parts = (carry + data).split(b"\n")
                carry = parts.pop()
                for p in parts:
                    yield p[:65536].rstrip(b"\r")
            if carry:
                yield carry[:65536].rstrip(b"\r")


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
    if len(ranges) == 1:
        total.merge(func(path, *ranges[0], year))  # type: ignore[arg-type]
        return total
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(len(ranges)) as pool:
        for part in pool.starmap(func, [(path, a, b, year) for a, b in ranges]):
            total.merge(part)  # type: ignore[arg-type]
    return total
