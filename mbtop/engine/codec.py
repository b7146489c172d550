"""Frames to and from JSON-able dicts (recordings, the agent's socket), generic over the dataclasses.

``cattrs`` walks the frame's dataclasses (forward references from ``from __future__ import
annotations`` resolved), with hooks for what JSON has no form of: ``MappingProxyType`` and other
mappings (plain objects; integer keys as strings), ``frozenset`` (a sorted list) and the
high-volume NamedTuples (``InetSocket``, ``UnixSocket``: plain lists, in field order).

``compact(frame)`` is what is recorded: faithful for every tab, but bounded. The snapshot is kept
whole (listeners and their owners, per-port counts by state, top remotes, findings, firewall,
health, services), and so is every log event; the connection table keeps every listening socket
and at most ``per_port`` connections per local port (what the details screen lists), and the
rates keep first-seen times only for the connections kept.

The first ``structure`` of each type generates code and is slow (tens of ms); later ones are not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import cattrs

from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import FORMAT, Frame, LogLines
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.model.history import conn_id
from mbtop.probes.types import InetSocket, UnixSocket

PER_PORT = 200  # connections kept per local port in a compact frame


class CodecError(ValueError):
    """A dict that is not a frame this mbtop can read; the message says why."""


def _resolve_forward_refs() -> None:
    """Names the dataclasses' annotations use but import only for the type checker (import cycles):
    given to their module so ``typing.get_type_hints`` (which cattrs calls) can resolve them."""
    from mbtop.model import types
    from mbtop.model.queue import QueueState
    from mbtop.probes.vitals import Vitals

    for name, obj in (("QueueState", QueueState), ("Vitals", Vitals)):
        vars(types).setdefault(name, obj)


def _converter() -> cattrs.Converter:
    _resolve_forward_refs()
    conv = cattrs.Converter()
    conv.register_unstructure_hook(InetSocket, list)
    conv.register_structure_hook(InetSocket, lambda v, _t: InetSocket(*v))
    conv.register_unstructure_hook(UnixSocket, list)
    conv.register_structure_hook(UnixSocket, lambda v, _t: UnixSocket(*v))

    def is_set(t: Any) -> bool:
        origin = getattr(t, "__origin__", t)
        return isinstance(origin, type) and issubclass(origin, frozenset | set)

    def set_hook(t: Any) -> Any:
        args = getattr(t, "__args__", None)
        item = conv.get_unstructure_hook(args[0]) if args else conv.unstructure
        return lambda v: sorted((item(x) for x in v), key=str)

    def is_mapping(t: Any) -> bool:
        origin = getattr(t, "__origin__", t)
        return isinstance(origin, type) and issubclass(origin, Mapping)

    def mapping_hook(t: Any) -> Any:
        args = getattr(t, "__args__", None)
        value = conv.get_unstructure_hook(args[1]) if args and len(args) == 2 else conv.unstructure
        return lambda v: {str(k): value(x) for k, x in v.items()}

    conv.register_unstructure_hook_factory(is_set, set_hook)
    conv.register_unstructure_hook_factory(is_mapping, mapping_hook)
    return conv


_CONV = _converter()


def to_json(frame: Frame) -> dict[str, Any]:
    """The frame as a JSON-able dict (only dicts, lists, strings, numbers, booleans and None)."""
    out: dict[str, Any] = _CONV.unstructure(frame, Frame)
    # First-seen times are keyed by conn_id, a hash salted per process: recorded by socket instead
    # (one entry per connection of the sample, in its order), keyed again by the reader.
    seen = frame.rates.first_seen
    out["rates"]["first_seen"] = [seen.get(conn_id(s)) for s in frame.sample.tcp.sockets] if seen else []
    logs = out.get("logs")
    if isinstance(logs, dict):
        for which in ("mail", "web"):
            logs[which] = _columns(logs.get(which) or [])
    out["format"] = FORMAT
    return out


# Log events go by column: {"n": N, "columns": {field: [N values]}}. A flood's events differ in a
# few fields (pid, address, line number); side by side, the same field's values compress to a few
# bytes an event where dicts of 13 keys each took 12 (measured on a recorded 1,000 conn/s flood:
# 3,287 events, 38.6 kB -> 22.9 kB with zlib, 11.6 kB with bz2; the store picks bz2 for big frames).
# Two columns are written in a shorter form that decodes exactly:
# - ``line_no`` as runs ``[[first, count], ...]`` (consecutive numbers cost bz2 a byte each);
# - ``message`` with the client's ``host[address]`` replaced by CLIENT where it occurs, and a
#   ``client_in_message`` column saying in which messages it was replaced (the rest are verbatim).
# Readers accept both forms and lists of dicts (recordings made before).
CLIENT = "\x00c"


def _runs(numbers: list[Any]) -> list[list[int]] | None:
    if not all(type(x) is int for x in numbers):
        return None
    runs: list[list[int]] = []
    for x in numbers:
        if runs and runs[-1][0] + runs[-1][1] == x:
            runs[-1][1] += 1
        else:
            runs.append([x, 1])
    return runs


def _columns(events: list[dict[str, Any]]) -> dict[str, Any]:
    keys: list[str] = []
    for e in events:
        for k in e:
            if k not in keys:
                keys.append(k)
    columns: dict[str, Any] = {k: [e.get(k) for e in events] for k in keys}
    out: dict[str, Any] = {"n": len(events), "columns": columns}
    runs = _runs(columns.get("line_no", []))
    if runs is not None and "line_no" in columns:
        del columns["line_no"]
        out["line_no_runs"] = runs
    if {"message", "client_ip", "client_hostname"} <= columns.keys():
        replaced: list[bool] = []
        messages = columns["message"]
        for i, e in enumerate(events):
            ip, host, text = e.get("client_ip"), e.get("client_hostname"), messages[i]
            client = f"{host}[{ip}]" if ip and host else None
            hit = isinstance(text, str) and client is not None and client in text and CLIENT not in text
            replaced.append(hit)
            if hit:
                messages[i] = text.replace(client, CLIENT)
        columns["client_in_message"] = replaced
    return out


def _rows(value: Any) -> Any:
    """Columns back to a list of dicts; anything else (a list from an older recording) as it is."""
    if not isinstance(value, Mapping) or "columns" not in value:
        return value
    n, columns = value.get("n"), value.get("columns")
    if not isinstance(n, int) or not isinstance(columns, Mapping):
        raise ValueError("log events: columns without a count")
    columns = dict(columns)
    runs = value.get("line_no_runs")
    if runs is not None:
        if not isinstance(runs, list) or not all(isinstance(r, list) and len(r) == 2 for r in runs):
            raise ValueError("log events: line number runs are not [first, count] pairs")
        columns["line_no"] = [first + i for first, count in runs for i in range(count)]
    if any(not isinstance(col, list) or len(col) != n for col in columns.values()):
        raise ValueError("log events: a column of the wrong length")
    replaced = columns.pop("client_in_message", None)
    rows = [{k: col[i] for k, col in columns.items()} for i in range(n)]
    if replaced is not None:
        for row, hit in zip(rows, replaced, strict=True):
            if hit:
                row["message"] = str(row["message"]).replace(CLIENT, f"{row['client_hostname']}[{row['client_ip']}]")
    return rows


def _logs_rows(logs: Any) -> Any:
    if not isinstance(logs, Mapping):
        return logs
    return {k: (_rows(v) if k in ("mail", "web") else v) for k, v in logs.items()}


def from_json(data: Mapping[str, Any]) -> Frame:
    """The frame back; a dict of another format, or one that does not fit the dataclasses, is refused."""
    fmt = data.get("format") if isinstance(data, Mapping) else None
    if fmt != FORMAT:
        if isinstance(fmt, int) and fmt > FORMAT:
            raise CodecError(f"frame format {fmt} is newer than this mbtop reads ({FORMAT}): upgrade mbtop")
        raise CodecError(f"not a frame of format {FORMAT} (format: {fmt!r})")
    body = {k: v for k, v in data.items() if k != "format"}
    rates = body.get("rates")
    if "logs" in body:
        try:
            body["logs"] = _logs_rows(body["logs"])
        except ValueError as exc:
            raise CodecError(f"frame does not fit: {exc}") from None
    by_socket = rates.get("first_seen") if isinstance(rates, dict) else None
    if isinstance(rates, dict) and isinstance(by_socket, list):
        body["rates"] = {**rates, "first_seen": {}}
    try:
        frame = _CONV.structure(body, Frame)
        if by_socket:
            sockets = frame.sample.tcp.sockets
            if len(by_socket) != len(sockets):
                raise ValueError("rates.first_seen does not match the connections")
            seen = {conn_id(s): float(t) for s, t in zip(sockets, by_socket, strict=True) if t is not None}
            frame = dataclasses.replace(frame, rates=dataclasses.replace(frame.rates, first_seen=seen))
        return frame
    except Exception as exc:  # noqa: BLE001 - cattrs raises class groups and plain errors alike
        raise CodecError(f"frame does not fit: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _why(exc.exceptions[0])
    return f"{type(exc).__name__}: {exc}"


def compact(frame: Frame, per_port: int = PER_PORT) -> Frame:
    """The frame bounded for recording: every listening socket, and at most ``per_port``
    connections on each documented port (the other ends of local connections, on ephemeral
    ports, and connections to undocumented ports are what no tab lists)."""
    ports = {p.spec.port for p in frame.snapshot.ports}
    counts: dict[int, int] = {}
    kept: list[InetSocket] = []
    dropped = False
    for s in frame.sample.tcp.sockets:
        if s.state == "LISTEN":
            kept.append(s)
            continue
        n = counts.get(s.local_port, 0)
        if n >= per_port or s.local_port not in ports:
            dropped = True
            continue
        counts[s.local_port] = n + 1
        kept.append(s)
    if not dropped and len(frame.rates.first_seen) <= len(kept):
        return frame
    ids = {conn_id(s) for s in kept}
    first_seen = {k: v for k, v in frame.rates.first_seen.items() if k in ids}
    tcp = dataclasses.replace(frame.sample.tcp, sockets=tuple(kept))
    return dataclasses.replace(
        frame,
        sample=dataclasses.replace(frame.sample, tcp=tcp),
        rates=dataclasses.replace(frame.rates, first_seen=first_seen),
    )


def logs_from_json(data: Mapping[str, Any]) -> LogLines:
    """Only a recorded frame's log events (a window of events need not rebuild whole frames)."""
    try:
        return _CONV.structure(_logs_rows(data.get("logs") or {}), LogLines)
    except Exception as exc:  # noqa: BLE001 - as in from_json
        raise CodecError(f"frame's log events do not fit: {_why(exc)}") from None


def batch_to_json(batch: LogBatch) -> dict[str, Any]:
    """A log batch as a JSON-able dict (the agent's socket): its events by kind, as a frame has them."""
    out: dict[str, Any] = _CONV.unstructure(batch, LogBatch)
    out["events"] = _CONV.unstructure(
        batch.events, tuple[MailEvent, ...] if batch.which == "mail" else tuple[WebEvent, ...]
    )
    return out


def batch_from_json(data: Mapping[str, Any]) -> LogBatch:
    """The batch back; one that does not fit is refused (``CodecError``)."""
    try:
        which = data["which"]
        kind = tuple[MailEvent, ...] if which == "mail" else tuple[WebEvent, ...]
        events: Any = _CONV.structure(data["events"], kind)
        return LogBatch(which, str(data["path"]), events, str(data["status"]), int(data.get("history") or 0))
    except Exception as exc:  # noqa: BLE001 - as in from_json
        raise CodecError(f"log batch does not fit: {_why(exc)}") from None
