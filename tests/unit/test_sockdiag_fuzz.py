"""The sock_diag decoder against any datagram: a list of InetSocket/UnixSocket or DiagUnavailable
(the caller's cue to read /proc/net), never another exception, never a table read half-way.

The kernel cannot be made to send garbage, so the one fake here is the narrowest there is: a
socket object that hands ``_dump`` recorded or generated datagrams instead of the kernel's. The
recordings are real dumps of this machine, taken through the real netlink socket in the test.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbtop.probes import sockdiag
from mbtop.probes.sockdiag import DiagUnavailable


class Datagrams:
    """A stand-in for the netlink socket: each recv_into returns the next datagram, then 0."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self._left = list(datagrams)

    def sendto(self, _data: bytes, _addr: object) -> int:
        return len(_data)

    def recv_into(self, buf: bytearray) -> int:
        if not self._left:
            return 0
        d = self._left.pop(0)[: len(buf)]
        buf[: len(d)] = d
        return len(d)

    def close(self) -> None:
        pass


class Recorder:
    """The real netlink socket, keeping a copy of every datagram it received."""

    def __init__(self, sock: socket.socket, into: list[bytes]) -> None:
        self._sock, self._into = sock, into

    def sendto(self, data: bytes, addr: tuple[int, int]) -> int:
        return self._sock.sendto(data, addr)

    def recv_into(self, buf: bytearray) -> int:
        n = self._sock.recv_into(buf)
        self._into.append(bytes(buf[:n]))
        return n

    def close(self) -> None:
        self._sock.close()


READERS: dict[str, Callable[[], list[object]]] = {
    "tcp": lambda: list(sockdiag.tcp_sockets()),
    "tcp-ports": lambda: list(sockdiag.tcp_sockets((22, 25, 80, 6379))),
    "unix": lambda: list(sockdiag.unix_sockets()),
}


_recorded: dict[str, tuple[list[list[bytes]], list[object]]] = {}


def record(kind: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[bytes]], list[object]]:
    """The datagrams of each dump a real read made (one per address family), and what it decoded;
    recorded once per kind, so that every example of a property starts from the same dump."""
    if kind not in _recorded:
        dumps: list[list[bytes]] = []
        real_open = sockdiag._open

        def recording() -> Recorder:
            dumps.append([])
            return Recorder(real_open(), dumps[-1])

        with monkeypatch.context() as m:
            m.setattr(sockdiag, "_open", recording)
            got = READERS[kind]()
        _recorded[kind] = dumps, got
    dumps, got = _recorded[kind]
    return [list(d) for d in dumps], got


def replay(kind: str, dumps: list[list[bytes]], monkeypatch: pytest.MonkeyPatch) -> list[object]:
    fakes: Iterator[Datagrams] = iter([Datagrams(d) for d in dumps] + [Datagrams([]) for _ in range(4)])
    with monkeypatch.context() as m:
        m.setattr(sockdiag, "_open", lambda: next(fakes))
        return READERS[kind]()


@pytest.fixture(scope="module")
def some_sockets() -> Iterator[None]:
    """A few sockets of our own so that every dump has records (a listener, a connection, a UNIX pair)."""
    lst = socket.create_server(("127.0.0.1", 0))
    c = socket.create_connection(lst.getsockname())
    a, b = socket.socketpair()
    yield
    for s in (lst, c, a, b):
        s.close()


@pytest.mark.parametrize("kind", READERS)
def test_a_replayed_dump_decodes_as_the_real_one(
    kind: str, some_sockets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake is faithful: a whole recorded dump decodes to what the real read decoded."""
    dumps, got = record(kind, monkeypatch)
    assert got and replay(kind, dumps, monkeypatch) == got


@pytest.mark.parametrize("kind", READERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_truncated_dump_is_refused_never_half_read(
    kind: str, some_sockets: None, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    """A dump cut anywhere before its end (a datagram cut short, the rest never sent) raises
    DiagUnavailable: a table read half-way would tell the operator a listener is gone."""
    dumps, _ = record(kind, monkeypatch)
    which = data.draw(st.integers(0, len(dumps) - 1), label="dump")
    grams = dumps[which]
    total = sum(len(g) for g in grams)
    cut = data.draw(st.integers(0, total - 1), label="cut at byte")
    kept: list[bytes] = []
    for g in grams:
        if cut < len(g):
            if cut:
                kept.append(g[:cut])
            break
        kept.append(g)
        cut -= len(g)
    dumps[which] = kept
    with pytest.raises(DiagUnavailable):
        replay(kind, dumps, monkeypatch)


@pytest.mark.parametrize("kind", READERS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_garbled_dump_never_crashes_the_decoder(
    kind: str, some_sockets: None, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    """Real dumps with bytes overwritten anywhere (lengths, types, families, attributes)."""
    dumps, _ = record(kind, monkeypatch)
    for grams in dumps:
        for i, g in enumerate(grams):
            flips = data.draw(st.lists(st.tuples(st.integers(0, len(g) - 1), st.integers(0, 255)), max_size=8))
            b = bytearray(g)
            for pos, value in flips:
                b[pos] = value
            grams[i] = bytes(b)
    try:
        out = replay(kind, dumps, monkeypatch)
    except DiagUnavailable:
        return
    want = sockdiag.UnixSocket if kind == "unix" else sockdiag.InetSocket
    assert all(isinstance(x, want) for x in out)


HEADER = struct.Struct("=IHHII")


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A netlink message whose header may lie: any length, a type the decoder knows or not."""
    payload = draw(st.binary(max_size=300))
    length = draw(st.one_of(st.just(16 + len(payload)), st.integers(0, 2**32 - 1), st.sampled_from([88, 92, 96, 104])))
    mtype = draw(st.sampled_from([sockdiag.SOCK_DIAG_BY_FAMILY, sockdiag.NLMSG_DONE, sockdiag.NLMSG_ERROR, 0, 99]))
    return HEADER.pack(length, mtype, 0, 0, 0) + payload


@given(
    st.lists(st.one_of(st.binary(max_size=600), st.lists(messages(), max_size=6).map(b"".join)), max_size=5),
    st.sampled_from(sorted(READERS)),
)
@settings(max_examples=600, deadline=None)
def test_any_bytes_give_sockets_or_diag_unavailable(grams: list[bytes], kind: str) -> None:
    fakes = iter([Datagrams(grams), Datagrams(grams)])
    saved = sockdiag._open
    sockdiag._open = lambda: next(fakes)  # type: ignore[assignment,return-value]
    try:
        out = READERS[kind]()
    except DiagUnavailable:
        return
    finally:
        sockdiag._open = saved
    want = sockdiag.UnixSocket if kind == "unix" else sockdiag.InetSocket
    assert all(isinstance(x, want) for x in out)
