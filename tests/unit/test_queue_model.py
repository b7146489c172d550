"""The queue's numbers, qshape's arithmetic, reason grouping, selection and the queue action plans.
Pure code on made-up messages (the real queue is in tests/integration/test_queue.py)."""

from __future__ import annotations

import json

import pytest

from mbtop.actions import queue as qactions
from mbtop.config import ConfigError, from_data
from mbtop.model import queue as qm
from mbtop.model.gateway_json import queue as queue_json
from mbtop.probes.queue import Corrupt, Message, _message

NOW = 1_800_000_000.0


def msg(qid: str, queue: str, age_min: float, sender: str, *rcpts: tuple[str, str | None], size: int = 1000) -> Message:
    return Message(queue, qid, NOW - age_min * 60, size, sender, tuple(rcpts))


QUEUE = [
    msg("A1B2C3D4E5", "deferred", 1, "a@x.org", ("u1@dead.test", "connect to 10.0.0.1[10.0.0.1]:25: refused")),
    msg("B1B2C3D4E5", "deferred", 7, "a@x.org", ("u2@dead.test", "connect to 10.0.0.2[10.0.0.2]:25: refused")),
    msg(
        "C1B2C3D4E5",
        "deferred",
        300,
        "B@Y.org",
        ("u3@Slow.Test", "host mx[192.0.2.1] said: 450 4.2.0 <u3@slow.test>: greylisted (in reply to RCPT TO command)"),
        ("u4@slow.test", "host mx[192.0.2.1] said: 450 4.2.0 <u4@slow.test>: greylisted (in reply to RCPT TO command)"),
    ),
    msg("D1B2C3D4E5", "hold", 3000, "", ("x@held.test", None)),
    msg("E1B2C3D4E5", "active", 0.5, "a@x.org", ("y@ok.test", None), size=5000),
]


def test_summary_counts_bytes_ages_tops_and_reasons() -> None:
    s = qm.summarise(QUEUE, NOW, Corrupt(2, 300, NOW - 60))
    assert dict(s.counts) == {"maildrop": 0, "incoming": 0, "active": 1, "deferred": 3, "hold": 1, "corrupt": 2}
    assert s.total == 5
    assert dict(s.bytes)["active"] == 5000 and dict(s.bytes)["corrupt"] == 300
    ages = dict(s.oldest_seconds)
    assert ages["deferred"] == 300 * 60 and ages["hold"] == 3000 * 60 and ages["incoming"] is None
    assert ages["corrupt"] == 60
    # A message with two recipients in one domain counts once for that domain.
    assert dict(s.top_domains) == {"dead.test": 2, "slow.test": 1, "held.test": 1, "ok.test": 1}
    assert s.top_senders[0] == ("a@x.org", 3) and ("MAILER-DAEMON", 1) in s.top_senders
    assert dict(s.deferred_reasons) == {
        "connect to IP[IP]:25: refused": 2,
        "host mx[IP] said: 450 4.2.0 <address>: greylisted (in reply to RCPT TO command)": 1,
    }
    doc = json.loads(json.dumps(queue_json(s)))
    assert doc["counts"]["hold"] == 1 and doc["top_senders"][0] == {"sender": "a@x.org", "count": 3}


def test_reason_normalisation_keeps_the_reply_and_drops_what_differs() -> None:
    a = qm.normalise_reason("host mx.example.com[203.0.113.5] said: 550 5.7.1 <bob@example.com> queue id 4FxyZ12abc9")
    b = qm.normalise_reason("host mx.example.com[203.0.113.9] said: 550 5.7.1 <eve@example.com> queue id 9QqqQ34xyz1")
    assert a == b == "host mx.example.com[IP] said: 550 5.7.1 <address> queue id <id>"
    assert qm.normalise_reason("connect to [2001:db8::1]:25: Network is unreachable") == (
        "connect to [IP]:25: Network is unreachable"
    )
    assert qm.normalise_reason("   ") == "(no reason given)"
    # The messages queued behind a dead destination carry qmgr's prefix: the same cause.
    assert qm.normalise_reason("delivery temporarily suspended: connect to 10.1.1.1[10.1.1.1]:25: refused") == (
        "connect to IP[IP]:25: refused"
    )


def test_domain_as_qshape_computes_it() -> None:
    assert qm.domain_of("User@Example.COM") == "example.com"
    assert qm.domain_of("") == "MAILER-DAEMON"
    assert qm.domain_of("a@b@c..d.") == "c.d"
    assert qm.domain_of("local") == "local"


def test_buckets_and_heads_as_qshape() -> None:
    assert qm.shape_heads() == ("T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+")
    age = {0: 1, 4.9: 1, 5: 2, 9.9: 2, 10: 3, 20: 4, 639: 8, 640: 9, 1279: 9, 1280: 10, 99999: 10}
    assert {m: qm.bucket(NOW - m * 60, NOW) for m in age} == age


def test_shape_text_layout() -> None:
    s = qm.summarise(QUEUE, NOW)
    text = qm.shape_text(s.shape(["deferred"]))
    lines = text.splitlines()
    assert lines[0] == " " * 41 + "T  5 10 20 40 80 160 320 640 1280 1280+"
    assert lines[1] == " " * 34 + "TOTAL  4  1  1  0  0  0   0   2   0    0     0"
    # Same count, same length: by name (qshape leaves such ties in Perl's hash order).
    assert lines[2] == " " * 30 + "dead.test  2  1  1  0  0  0   0   0   0    0     0"
    assert lines[3] == " " * 30 + "slow.test  2  0  0  0  0  0   0   2   0    0     0"
    long = qm.Shape(qm.shape_heads(), (("TOTAL", (1,) + (0,) * 10), ("x" * 50 + ".test", (1,) + (0,) * 10)))
    cut = qm.shape_text(long).splitlines()[2]
    assert cut.startswith("+") and len(cut) == 80 and cut[: cut.index(" ")].endswith("xxxx.test")


def test_select_by_each_selector() -> None:
    ids = lambda by, v: [m.queue_id for m in qm.select(QUEUE, by, v)]
    assert ids("domain", "SLOW.test") == ["C1B2C3D4E5"]
    assert ids("sender", "b@y.org") == ["C1B2C3D4E5"]
    assert ids("sender", "MAILER-DAEMON") == ["D1B2C3D4E5"]
    assert ids("reason", "connect to IP[IP]:25: refused") == ["A1B2C3D4E5", "B1B2C3D4E5"]
    assert ids("queue", "hold") == ["D1B2C3D4E5"]
    with pytest.raises(ValueError):
        qm.select(QUEUE, "subject", "x")


def test_findings_and_their_thresholds() -> None:
    s = qm.summarise(QUEUE, NOW, Corrupt(1, 10, NOW))
    codes = {f.code for f in qm.findings(s, qm.QueueThresholds(messages=4, deferred_hours=4))}
    assert codes == {"queue-over-threshold", "queue-deferred-old", "queue-hold", "queue-corrupt"}
    quiet = qm.summarise([QUEUE[0]], NOW)
    assert qm.findings(quiet, qm.QueueThresholds()) == []
    assert qm.findings(qm.unavailable("no postfix"), qm.QueueThresholds()) == []


def test_postqueue_json_lines_that_are_not_messages_are_skipped() -> None:
    good = json.loads(
        '{"queue_name": "deferred", "queue_id": "4F0B1234", "arrival_time": 1528886000, "message_size": 2524,'
        ' "forced_expire": false, "sender": "a@b", "recipients": [{"address": "c@d", "delay_reason": "x"}]}'
    )
    m = _message(good)
    assert m is not None and m.recipients == (("c@d", "x"),) and m.size == 2524
    assert _message([1, 2]) is None
    assert _message({"queue_name": 3}) is None
    odd = _message({"queue_name": "hold", "queue_id": "X1234567", "arrival_time": "soon", "recipients": [{"a": 1}]})
    assert odd is not None and odd.arrival == 0.0 and odd.recipients == ()


def test_action_plans_list_the_ids_and_feed_them_on_stdin() -> None:
    sel = qactions.selection(domain="dead.test")
    plan = qactions.plan("hold", sel, messages=QUEUE)
    assert plan.refused is None and plan.action == "queue-hold"
    (step,) = plan.steps
    assert step.argv[-2:] == ("-h", "-") and step.stdin == ("A1B2C3D4E5", "B1B2C3D4E5")
    assert "A1B2C3D4E5, B1B2C3D4E5" in plan.preview()
    assert plan.argvs()[0][-3:] == ["<stdin>", "A1B2C3D4E5", "B1B2C3D4E5"]
    # Release takes only held mail; delete takes any queue; an id not in the queue is not acted on.
    assert qactions.plan("release", qactions.selection(["A1B2C3D4E5"]), messages=QUEUE).refused
    assert qactions.plan("release", qactions.selection(["D1B2C3D4E5"]), messages=QUEUE).steps[0].stdin == (
        "D1B2C3D4E5",
    )
    assert qactions.plan("delete", qactions.selection(["ZZZZZZZZ99"]), messages=QUEUE).refused
    assert "read-only" in (qactions.plan("delete", sel, messages=QUEUE, read_only=True).refused or "")
    assert "root" in (qactions.plan("delete", sel, messages=QUEUE, root=False).refused or "")


def test_action_usage_errors() -> None:
    with pytest.raises(qactions.QueueUsage):
        qactions.plan("delete", qactions.selection(["ALL"]), messages=QUEUE)  # never postsuper's ALL
    with pytest.raises(qactions.QueueUsage):
        qactions.selection(["A1B2C3D4E5"], sender="a@x.org")
    with pytest.raises(qactions.QueueUsage):
        qactions.plan("hold", None, messages=QUEUE)
    with pytest.raises(qactions.QueueUsage):
        qactions.plan("flush", None, site="evil.test; rm -rf /")
    flush = qactions.plan("flush", None, site="example.com")
    assert flush.steps[0].argv[-2:] == ("-s", "example.com")
    assert qactions.plan("flush", None).steps[0].argv[-1] == "-f"


def test_config_thresholds() -> None:
    cfg = from_data({"queue": {"threshold": 500, "deferred_hours": 12}, "vitals": {"disk_free_percent": 10}}, None)
    assert cfg.queue == qm.QueueThresholds(500, 12.0)
    assert cfg.vitals.disk_free == pytest.approx(0.10) and cfg.vitals.cert_days == 30
    for bad in ({"queue": {"nope": 1}}, {"queue": {"threshold": -1}}, {"vitals": {"disk_free_percent": 101}}):
        with pytest.raises(ConfigError):
            from_data(bad, None)
