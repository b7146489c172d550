"""A real mail queue: mail to domains routed to a closed loopback port is deferred for real;
mbtop's counts, its qshape table and its actions are checked against Postfix's own tools
(postqueue -p, qshape, the queue after each action) and the audit log.

Twice: in the lab stack's Postfix (`stack`: run under the stack lock; its transport_maps is changed
for the time of the module and restored) and in a private second Postfix instance (`private`: its
own config directory and spool, read with `mbtop queue --postfix-config DIR`; no port, no lock).
The mail made is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mailqueue as mq
from tests.support import stack as st
from tests.support.netns import REPO

# Distinct counts per domain: qshape sorts ties in Perl's hash order, which is random.
PLAN = {"dead-a.test": 7, "dead-bb.test": 4, "dead-ccc.test": 2}
ALICE, SPAMMER = "alice@example.org", "spammer@example.net"
# One message has two recipients: messages and recipients are counted apart (qshape counts recipients).
SENDERS: dict[str, list[str | tuple[str, int]]] = {
    "dead-a.test": [SPAMMER] * 6 + [(SPAMMER, 2)],
    "dead-bb.test": [ALICE, SPAMMER, ALICE, SPAMMER],
    "dead-ccc.test": [SPAMMER, ALICE],
}


def mbtop(pf: mq.Instance, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mbtop", *args, *pf.mbtop_args()] + (["--config", str(config)] if config else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO, stdin=subprocess.DEVNULL)


def postqueue_p(pf: mq.Instance) -> tuple[int, dict[str, str]]:
    """(requests, {queue id: status mark}) from `postqueue -p`: '*' active, '!' hold, '' otherwise."""
    out = subprocess.run(pf.argv("postqueue", "-p"), capture_output=True, text=True, check=True, timeout=60).stdout
    ids = dict((m.group(1), m.group(2)) for m in re.finditer(r"^([0-9A-F]{6,})([*!]?)\s", out, re.MULTILINE))
    last = out.strip().splitlines()[-1]
    total = 0 if "empty" in last else int(re.search(r"in (\d+) Requests?", last).group(1))  # type: ignore[union-attr]
    return total, ids


def ours(pf: mq.Instance) -> list[dict]:
    return mq.of(pf, PLAN)


@pytest.fixture(scope="module", params=["private", "stack"])
def pf(request: pytest.FixtureRequest) -> Iterator[mq.Instance]:
    """13 messages to the dead domains, from two senders, deferred for real in that Postfix."""
    if os.geteuid() != 0:
        pytest.skip("needs root (Postfix's queue)")
    if request.param == "private":
        with mq.private_instance({"transport_maps": mq.routes(list(PLAN))}) as inst, mq.deferred_mail(SENDERS, inst):
            yield inst
    else:
        with mq.deferred_mail(SENDERS):
            yield mq.Instance(None, Path("/var/log/mail.log"))


@pytest.fixture
def audit() -> Iterator[tuple[Path, Path]]:
    """A config whose audit log is a fresh file in a directory only root can write: (config, log)."""
    root = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))
    os.chmod(root, 0o700)
    log = root / "audit" / "actions.log"
    cfg = root / "mbtop.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    os.chmod(cfg, 0o644)
    try:
        yield cfg, log
    finally:
        shutil.rmtree(root, ignore_errors=True)


def audit_lines(log: Path) -> list[dict]:
    """Each action's last line (its result); an action that ran has its "started" line first."""
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    started = {x["id"]: x for x in lines if x["result"] == "started"}
    out = [x for x in lines if x["result"] != "started"]
    for x in out:
        if x["result"] != "refused":
            assert started.pop(x["id"])["argv"] == x["argv"]
    assert not started
    return out


def test_counts_equal_postqueue(pf: mq.Instance) -> None:
    doc = json.loads(mbtop(pf, "queue", "--json").stdout)
    total, marks = postqueue_p(pf)
    assert doc["available"] is True
    assert sum(n for q, n in doc["counts"].items() if q != "corrupt") == total == len(marks)
    assert doc["counts"]["hold"] == sum(1 for m in marks.values() if m == "!")
    assert doc["counts"]["deferred"] >= sum(PLAN.values())
    domains = {d["domain"]: d["count"] for d in doc["top_domains"]}
    assert {d: domains.get(d) for d in PLAN} == PLAN
    senders = {s["sender"]: s["count"] for s in doc["top_senders"]}
    assert senders.get(SPAMMER, 0) >= 7 + 3
    reasons = {r["reason"]: r["count"] for r in doc["deferred_reasons"]}
    # 13 messages, 13 queue ids, three domains: one remote reply, grouped once.
    assert reasons.get(f"connect to IP[IP]:{mq.DEAD_PORT}: Connection refused") == sum(PLAN.values())
    if pf.config_dir is None:  # the snapshot reads the default instance
        assert st.snapshot()["queue"]["counts"] == doc["counts"]


def test_shape_equals_qshape(pf: mq.Instance) -> None:
    ours_ = mbtop(pf, "queue", "--shape")
    theirs = subprocess.run(pf.argv("qshape", "deferred"), capture_output=True, text=True, check=True)
    assert ours_.returncode == 0, ours_.stderr
    assert ours_.stdout == theirs.stdout
    assert "dead-a.test" in ours_.stdout
    both = subprocess.run(pf.argv("qshape", "hold", "deferred"), capture_output=True, text=True, check=True)
    assert mbtop(pf, "queue", "--shape", "hold", "deferred").stdout == both.stdout


def test_hold_release_delete_as_previewed_and_audited(pf: mq.Instance, audit: tuple[Path, Path]) -> None:
    cfg, log = audit
    want = sorted(m["queue_id"] for m in ours(pf) if m["recipients"][0]["address"].endswith("@dead-ccc.test"))
    assert len(want) == 2
    preview = mbtop(pf, "queue", "hold", "--domain", "dead-ccc.test", "--dry-run", config=cfg)
    assert preview.returncode == 0 and "put on hold 2 message(s)" in preview.stdout
    assert all(qid in preview.stdout for qid in want)
    assert [m["queue_name"] for m in ours(pf) if m["queue_id"] in want] == ["deferred", "deferred"]

    held = mbtop(pf, "queue", "hold", "--domain", "dead-ccc.test", "--yes", config=cfg)
    assert held.returncode == 0, held.stderr
    assert sorted(m["queue_id"] for m in ours(pf) if m["queue_name"] == "hold") == want
    _total, marks = postqueue_p(pf)
    assert sorted(q for q, mark in marks.items() if mark == "!") == want
    doc = json.loads(mbtop(pf, "queue", "--json").stdout)
    assert doc["counts"]["hold"] == 2
    assert any(f["code"] == "queue-hold" for f in doc["findings"])

    released = mbtop(pf, "queue", "release", *want, "--yes", config=cfg)
    assert released.returncode == 0, released.stderr
    assert not [m for m in ours(pf) if m["queue_name"] == "hold"]

    victims = sorted(m["queue_id"] for m in ours(pf) if m["sender"] == ALICE)
    gone = mbtop(pf, "queue", "delete", "--sender", ALICE, "--yes", config=cfg)
    assert gone.returncode == 0, gone.stderr
    assert f"delete {len(victims)} message(s)" in gone.stdout
    left = {m["queue_id"] for m in ours(pf)}
    assert victims and not (left & set(victims)) and len(left) == sum(PLAN.values()) - len(victims)

    lines = audit_lines(log)
    assert [(a["action"], a["result"]) for a in lines] == [
        ("queue-hold", "done"),
        ("queue-release", "done"),
        ("queue-delete", "done"),
    ]
    assert lines[0]["argv"] == [pf.argv("/usr/sbin/postsuper", "-h", "-", "<stdin>", *want)]
    assert lines[2]["argv"][0][-len(victims) :] == victims
    assert "Deleted: " in lines[2]["detail"]


def test_flush_retries_now_and_read_only_refuses(pf: mq.Instance, audit: tuple[Path, Path]) -> None:
    cfg, log = audit
    ids = {m["queue_id"] for m in ours(pf)}
    refused = mbtop(pf, "--read-only", "queue", "flush", "--yes", config=cfg)
    assert refused.returncode == 1 and "read-only" in refused.stdout + refused.stderr
    mark = pf.log.stat().st_size
    flushed = mbtop(pf, "queue", "flush", "--yes", config=cfg)
    assert flushed.returncode == 0, flushed.stderr

    def retried() -> set[str]:
        with open(pf.log, "rb") as fh:
            fh.seek(mark)
            text = fh.read().decode("utf-8", "replace")
        return {q for q in ids if re.search(rf"{q}: to=<[^>]*>.*status=deferred", text)}

    st.wait_until(lambda: retried() == ids, 60, what="every deferred message retried after the flush")
    assert [(a["action"], a["result"]) for a in audit_lines(log)] == [
        ("queue-flush", "refused"),
        ("queue-flush", "done"),
    ]
    assert audit_lines(log)[1]["argv"] == [pf.argv("/usr/sbin/postqueue", "-f")]


def test_nothing_matches_is_refused_and_audited(pf: mq.Instance, audit: tuple[Path, Path]) -> None:
    cfg, log = audit
    out = mbtop(pf, "queue", "delete", "--sender", "nobody@nowhere.test", "--yes", config=cfg)
    assert out.returncode == 1
    assert [(a["action"], a["result"]) for a in audit_lines(log)] == [("queue-delete", "refused")]
    assert len(ours(pf)) >= 1  # nothing else was touched
