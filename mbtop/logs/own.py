"""mbtop's own traffic in the logs it watches: its health checks never count as traffic.

The HTTP checks send ``User-Agent: mbtop-health``; a request counts as mbtop's own only when it also
comes from an address of this host (loopback or an interface's), so a stranger who copies the agent
string does not hide from the web pane.

An SMTP check leaves a session in the mail log: ``connect from localhost[127.0.0.1]``, perhaps a TLS
line, and ``disconnect from localhost[127.0.0.1] ehlo=1 quit=1 commands=2`` (``ehlo=2 starttls=1
quit=1 commands=4`` with STARTTLS, ``quit=1 commands=1`` on SMTPS).  Postfix logs neither the EHLO
name nor, by default, the client port, so the session is recognised by three things together:

* the client is an address of this host (the checks connect to the listener's own address);
* the session is tied by the smtpd's pid: one smtpd process serves one session at a time, so every
  line of that pid between the connect and the disconnect belongs to it;
* proof that it was a check: the disconnect line's command counts, which are exactly the check's
  dialogue (a client that only greets and quits, from this host); live, also a claim the probe
  registered *before* it connected (``mbtop.probes.health.OWN_SMTP``), one per session: a session
  that takes a claim is held until its disconnect (at most ``HOLD`` seconds), so a stranger
  connecting from the same address while a check runs is held a moment, never hidden.

A file is read in order, so a session's lines are held back (at most ``LOOKAHEAD`` lines) until its
disconnect line says whose it was.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

import psutil

from mbtop.logs.events import MailEvent, WebEvent
from mbtop.probes.health import OWN_SMTP, SMTP_SESSION_COMMANDS, USER_AGENT

AGENT = USER_AGENT.decode()
LOOKAHEAD = 5000  # lines a session may span in a file before it is given up as not ours
MAX_SESSIONS = 1024  # open sessions from this host followed at once
HOLD = 5.0  # s a live session that may be a check is held for its disconnect (a check lasts < its timeout)
_ADDRESSES_FOR = 60.0  # seconds the host's address list is reused
_SESSION_END = frozenset({"disconnect", "lost_connection", "timeout", "too_many_errors"})
_addresses: tuple[float, frozenset[str]] = (-_ADDRESSES_FOR, frozenset())


def host_addresses() -> frozenset[str]:
    """Every address of this host's interfaces (re-read once a minute)."""
    global _addresses
    now = time.monotonic()
    at, known = _addresses
    if now - at < _ADDRESSES_FOR:
        return known
    found: set[str] = set()
    try:
        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):  # not the link-layer (MAC) ones
                    found.add(a.address.split("%", 1)[0])
    except OSError:
        pass
    _addresses = (now, frozenset(found))
    return _addresses[1]


@lru_cache(maxsize=4096)
def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def is_local(ip: str | None) -> bool:
    return ip is not None and (_loopback(ip) or ip in host_addresses())


def own_web(ev: WebEvent) -> bool:
    return ev.user_agent == AGENT and is_local(ev.client_ip)


def check_session(ev: MailEvent) -> bool:
    """A disconnect line whose command counts are exactly an SMTP check's, from this host."""
    if ev.kind != "disconnect" or not is_local(ev.client_ip):
        return False
    return " ".join(f"{k}={v}" for k, v in ev.fields.items()) in SMTP_SESSION_COMMANDS


def _smtpd(ev: MailEvent) -> bool:
    service = ev.service or ""
    return service.endswith("smtpd") and ev.pid is not None


class OwnSessions:
    """Marks the lines of mbtop's own SMTP checks (``own=True``).

    ``claims``: live, a function returning the SMTP connections the probe opened lately, as
    (address, port); without it (a file), sessions are decided at their disconnect line.
    """

    def __init__(self, claims: Callable[[], frozenset[tuple[str, int]]] | None = None) -> None:
        self.claims = claims
        self._claimed: set[tuple[str, int]] = set()
        # live: sessions held until their disconnect decides: (host, pid) -> (since, address, lines)
        self._pending: OrderedDict[tuple[str | None, int], tuple[float, str, list[MailEvent]]] = OrderedDict()
        self._held: deque[MailEvent] = deque()  # a file: lines waiting for a session's verdict
        self._open: OrderedDict[tuple[str | None, int], list[int]] = OrderedDict()  # session -> held indices
        self._verdict: dict[int, bool] = {}  # held line_no -> own
        self.own_lines = 0

    # -- live -------------------------------------------------------------------------------
    def mark(self, events: Iterable[MailEvent], now: float | None = None) -> list[MailEvent]:
        """Live: a session from an address the probe has an open claim on is held until its
        disconnect, and is mbtop's own only when that line shows exactly a check's dialogue; any
        other line passes at once.  A held session is let go as traffic after ``HOLD`` seconds."""
        now = time.monotonic() if now is None else now
        out: list[MailEvent] = []
        for ev in events:
            out.extend(self._live(ev, now))
        for key in [k for k, (since, _a, _l) in self._pending.items() if now - since > HOLD]:
            out.extend(self._settle(key, False))
        return out

    def _live(self, ev: MailEvent, now: float) -> list[MailEvent]:
        if not _smtpd(ev):
            return [ev]
        key = (ev.host, ev.pid or 0)
        if ev.kind == "connect":
            out = self._settle(key, False)  # an earlier session of that process never ended in the log
            address = ev.client_ip or ""
            if is_local(address) and self._claim(address):
                self._pending[key] = (now, address, [ev])
                while len(self._pending) > MAX_SESSIONS:
                    out.extend(self._settle(next(iter(self._pending)), False))
                return out
            return [*out, ev]
        pending = self._pending.get(key)
        if pending is None:
            # A check by another mbtop (a cron `mbtop check`): its disconnect line at least.
            return [self._own(ev)] if check_session(ev) else [ev]
        pending[2].append(ev)
        if ev.kind in _SESSION_END:
            return self._settle(key, check_session(ev))
        return []

    def _settle(self, key: tuple[str | None, int], own: bool) -> list[MailEvent]:
        pending = self._pending.pop(key, None)
        if pending is None:
            return []
        return [self._own(e) for e in pending[2]] if own else pending[2]

    def _own(self, ev: MailEvent) -> MailEvent:
        self.own_lines += 1
        return dataclasses.replace(ev, own=True)

    def _claim(self, address: str) -> bool:
        """Take one of the probe's open claims on ``address`` (each claim serves one session)."""
        if self.claims is None:
            return False
        opened = self.claims()
        self._claimed &= opened  # forget claims the probe has forgotten
        for key in opened:
            if key[0] == address and key not in self._claimed:
                self._claimed.add(key)
                return True
        return False

    # -- a file -----------------------------------------------------------------------------
    def feed(self, events: Iterable[MailEvent]) -> Iterator[MailEvent]:
        """A file in order: each line, marked, once its session (if any) is decided."""
        for ev in events:
            self._hold(ev)
            yield from self._release(force=False)

    def flush(self) -> Iterator[MailEvent]:
        """The end of the input (or of a batch, when following): what is held goes out as it stands."""
        self._open.clear()
        yield from self._release(force=True)

    def _hold(self, ev: MailEvent) -> None:
        self._held.append(ev)
        if not _smtpd(ev):
            return
        key = (ev.host, ev.pid or 0)
        if ev.kind == "connect":
            self._decide(key, False)  # an earlier session of that pid never ended in this log
            if is_local(ev.client_ip):
                self._open[key] = [ev.line_no]
                while len(self._open) > MAX_SESSIONS:
                    self._decide(next(iter(self._open)), False)
            return
        lines = self._open.get(key)
        if lines is None:
            return
        lines.append(ev.line_no)
        if ev.kind in _SESSION_END:
            self._decide(key, check_session(ev))

    def _decide(self, key: tuple[str | None, int], own: bool) -> None:
        lines = self._open.pop(key, None)
        for n in lines or ():
            self._verdict[n] = own

    def _release(self, force: bool) -> Iterator[MailEvent]:
        held = self._held
        while held:
            ev = held[0]
            if self._open and ev.line_no not in self._verdict:
                # Only the oldest open session can hold the queue's head: its connect line.
                key, lines = next(iter(self._open.items()))
                if lines[0] == ev.line_no:
                    if not force and len(held) <= LOOKAHEAD:
                        return
                    self._decide(key, False)  # too long to be a check
            held.popleft()
            if self._verdict.pop(ev.line_no, False):
                self.own_lines += 1
                yield dataclasses.replace(ev, own=True)
            else:
                yield ev


def live_sessions() -> OwnSessions:
    """For the live screen: the connects this process's own SMTP checks caused are claimed at once."""
    return OwnSessions(claims=OWN_SMTP.current)
