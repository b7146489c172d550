"""Plans for the queue actions: flush, requeue, hold, release, delete. Nothing runs here.

The messages are chosen when the plan is made — by queue id, or every message of a sender, a
recipient domain or a deferred reason — and the preview lists how many and which. ``postsuper``
gets the queue ids on its standard input (``postsuper -d -``), one per line: nothing the queue holds
(a sender, a reason) ever reaches a command line, and the ids themselves are checked to be
Postfix queue ids that were in the queue when the plan was made.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mbtop.actions.plan import Plan, Step
from mbtop.model import queue as queuemodel
from mbtop.probes import queue as probe

ACTIONS = ("flush", "requeue", "hold", "release", "delete")
# postsuper's option, and the queues its messages are taken from.
POSTSUPER = {
    "requeue": ("-r", ("incoming", "active", "deferred", "hold")),
    "hold": ("-h", ("incoming", "active", "deferred")),
    "release": ("-H", ("hold",)),
    "delete": ("-d", ("maildrop", "incoming", "active", "deferred", "hold")),
}
VERB = {"requeue": "requeue", "hold": "put on hold", "release": "release from hold", "delete": "delete"}
QUEUE_ID = re.compile(r"^[0-9A-Za-z]{6,32}$")
SITE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*$")
SHOWN_IDS = 20


class QueueUsage(ValueError):
    """The request does not name messages mbtop can act on (exit 2)."""


@dataclass(frozen=True, slots=True)
class Selection:
    by: str  # id, sender, domain, reason, queue
    values: tuple[str, ...]  # several only for ids

    @property
    def text(self) -> str:
        if self.by == "id":
            return f"queue id{'s' if len(self.values) > 1 else ''} {', '.join(self.values)}"
        return f"every message of {self.by} {self.values[0]!r}"


def gate(read_only: bool, root: bool) -> str | None:
    if read_only:
        return "read-only mode (--read-only or read_only in the config): actions are disabled"
    if not root:
        return "needs root: run mbtop with sudo"
    return None


def _ids_text(ids: list[str]) -> str:
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def pick(messages: Iterable[probe.Message], sel: Selection, queues: tuple[str, ...]) -> list[str]:
    """The queue ids ``sel`` names in ``queues`` (only the ids are kept: the queue may be huge)."""
    if sel.by == "id":
        wanted = set(sel.values)
        return [m.queue_id for m in messages if m.queue in queues and m.queue_id in wanted]
    by, value = sel.by, sel.values[0]
    return [m.queue_id for m in messages if m.queue in queues and queuemodel.matches(m, by, value)]


def plan(
    action: str,
    sel: Selection | None,
    *,
    site: str | None = None,
    read_only: bool = False,
    root: bool = True,
    messages: Iterable[probe.Message] | None = None,
    config_dir: str | None = None,
) -> Plan:
    """The plan for ``action`` on the messages ``sel`` names (read from the live queue unless given)."""
    if action not in ACTIONS:
        raise QueueUsage(f"unknown queue action {action!r} (one of {', '.join(ACTIONS)})")
    refused = gate(read_only, root)
    if action == "flush":
        return _flush(sel, site, refused, config_dir)
    if sel is None:
        raise QueueUsage(f"{action}: name the messages: queue ids, --sender, --domain, --reason or --queue")
    if sel.by == "id":
        bad = [v for v in sel.values if not QUEUE_ID.match(v)]
        if bad:
            raise QueueUsage(f"not a Postfix queue id: {bad[0]!r}")
    option, queues = POSTSUPER[action]
    reader = None
    if messages is None and refused is not None:
        messages = ()  # refused anyway (read-only, a recording, not root): the queue is not read
    if messages is None:
        reader = probe.Reader(config_dir)
        messages = reader
    ids = sorted({qid for qid in pick(messages, sel, queues) if QUEUE_ID.match(qid)})
    summary = f"{VERB[action]} {len(ids)} message(s): {sel.text}"
    if reader is not None and reader.error:
        refused = refused or f"the queue cannot be read: {reader.error}"
    elif not ids:
        where = " or ".join(queues)
        refused = refused or f"no message in the {where} queue matches {sel.text}"
    exe = probe.which("postsuper") or "/usr/sbin/postsuper"
    argv = (exe, *(("-c", config_dir) if config_dir else ()), option, "-")
    notes = [f"queue ids: {_ids_text(ids)}"] if ids else []
    if action == "delete":
        notes.append("deleted mail is gone: there is no undo")
    step = Step("exec", f"postsuper {option} - with {len(ids)} queue id(s) on stdin", argv=argv, stdin=tuple(ids))
    return Plan(
        f"queue-{action}",
        f"{sel.by}:{','.join(sel.values)}",
        summary,
        (step,) if ids else (),
        refused,
        tuple(notes),
        verify=f"the queue read again: where those {len(ids)} message(s) are now",
    )


def _flush(sel: Selection | None, site: str | None, refused: str | None, config_dir: str | None) -> Plan:
    if sel is not None:
        raise QueueUsage(
            "flush works on the whole queue or one site (--site); to retry chosen messages now, requeue them"
        )
    exe = probe.which("postqueue") or "/usr/sbin/postqueue"
    conf = ("-c", config_dir) if config_dir else ()
    if site is None:
        step = Step("exec", "flush the queue", argv=(exe, *conf, "-f"))
        summary, target = "flush the queue: try every deferred message now", "all"
        notes: tuple[str, ...] = ()
    else:
        if not _valid_site(site):
            raise QueueUsage(f"not a domain name or address: {site!r}")
        step = Step("exec", f"flush {site}", argv=(exe, *conf, "-s", site))
        summary, target = f"flush the mail for {site}", f"site:{site}"
        notes = ("postqueue -s works for domains in fast_flush_domains (default: $relay_domains)",)
    return Plan("queue-flush", target, summary, (step,), refused, notes, verify="the queue read again")


def _valid_site(site: str) -> bool:
    try:
        ipaddress.ip_address(site.strip("[]"))
        return True
    except ValueError:
        return bool(SITE.match(site))


def selection(
    ids: Iterable[str] = (),
    sender: str | None = None,
    domain: str | None = None,
    reason: str | None = None,
    queue: str | None = None,
) -> Selection | None:
    """One way of naming messages, from the command line's options; None when none is given."""
    given = [(k, v) for k, v in (("sender", sender), ("domain", domain), ("reason", reason), ("queue", queue)) if v]
    ids = tuple(ids)
    if (ids and given) or len(given) > 1:
        raise QueueUsage("name the messages one way: queue ids, or one of --sender, --domain, --reason, --queue")
    if ids:
        return Selection("id", ids)
    if given:
        by, value = given[0]
        if by == "queue" and value not in queuemodel.QUEUES:
            raise QueueUsage(f"unknown queue {value!r} (one of {', '.join(queuemodel.QUEUES)})")
        return Selection(by, (value,))
    return None


def verify_lines(plan_: Plan, state: queuemodel.QueueState) -> list[str]:
    """After a queue action: the counts now."""
    if not state.available:
        return [f"queue: {state.reason}"]
    parts = [f"{q} {n}" for q, n in state.counts if n or q in ("deferred", "hold")]
    return ["queue now: " + ", ".join(parts)]


def plan_for(kind: str, target: str, read_only: bool, root: bool, config_dir: str | None = None) -> Plan:
    """The live screen's request: ``queue-hold`` on ``domain:example.com`` (``id:…``, ``all`` for flush)."""
    action = kind.removeprefix("queue-")
    if action == "flush":
        return plan("flush", None, read_only=read_only, root=root, config_dir=config_dir)
    by, _, value = target.partition(":")
    sel = Selection("id", (value,)) if by == "id" else selection(**{by: value})
    return plan(action, sel, read_only=read_only, root=root, config_dir=config_dir)
