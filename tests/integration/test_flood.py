"""SMTP flood watch on the real Postfix: top sources and counts equal the test's own tally."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.support import stack as st

SKEW = {"127.77.0.1": 20, "127.77.0.2": 12, "127.77.0.3": 8, "127.77.0.4": 5}
SKEW.update({f"127.77.1.{i}": 1 for i in range(1, 51)})  # 54 sources, 95 connections


def _by_address(doc: dict) -> dict[str, dict]:
    return {s["address"]: s for s in doc["flood"]["top_sources"]}


def test_concurrent_per_source_equals_the_tally() -> None:
    st.require_stack()
    with st.smtp_flood(SKEW) as flood:
        assert flood.tally == SKEW
        doc = st.snapshot(sample=0.5)
    top = _by_address(doc)
    # The ranking adds each source's new connections to its open ones, and Postfix may log the
    # "connect from" of a held connection during the sample window: the order among the heavy four
    # can change, the four cannot.
    assert set(list(top)[:4]) == {"127.77.0.1", "127.77.0.2", "127.77.0.3", "127.77.0.4"}
    for address in list(top)[:4]:
        assert top[address]["concurrent"] == SKEW[address]
    assert doc["flood"]["concurrent"] >= sum(SKEW.values())
    assert doc["flood"]["ports"] == [25, 587, 465]
    prefixes = {p["address"]: p for p in doc["flood"]["top_prefixes"]}
    assert prefixes["127.77.0.0/24"]["concurrent"] == 45 and prefixes["127.77.1.0/24"]["concurrent"] == 50


def test_new_connections_per_source_during_the_sample_window() -> None:
    st.require_stack()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "3"], stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.8)  # the first sample is taken; now the flood arrives
    with st.smtp_flood(SKEW):
        out, _ = proc.communicate(timeout=30)
    doc = json.loads(out)
    top = _by_address(doc)
    for address in ("127.77.0.1", "127.77.0.2", "127.77.0.3", "127.77.0.4"):
        assert top[address]["new_per_min"] == SKEW[address], (address, top[address])
    assert doc["flood"]["new_per_min"] >= sum(SKEW.values())
    # 20 new connections from one source in 30 s is over ufw's `limit` rate (6 per 30 s): an alert.
    assert doc["flood"]["alert"] is True
    assert any("127.77.0.1 opened 20 connections in 30 s" in r for r in doc["flood"]["reasons"])
    assert any(f["code"] == "smtp-flood" and f["severity"] == "warning" for f in doc["findings"])


def test_fail2ban_postfix_jail_state_is_reported() -> None:
    st.require_stack()
    subprocess.run(["fail2ban-client", "set", "postfix", "banip", "203.0.113.250"], check=True, capture_output=True)
    try:
        doc = st.snapshot(sample=0.2)
    finally:
        subprocess.run(["fail2ban-client", "set", "postfix", "unbanip", "203.0.113.250"], capture_output=True)
    f2b = doc["flood"]["fail2ban"]
    assert f2b["running"] is True
    (jail,) = [j for j in f2b["jails"] if j["name"] == "postfix"]
    assert "203.0.113.250" in jail["banned"] and jail["currently_banned"] >= 1
    assert st.snapshot()["flood"]["fail2ban"] is None  # --sample 0: not asked
    after = st.snapshot(sample=0.2)["flood"]["fail2ban"]["jails"][0]
    assert "203.0.113.250" not in after["banned"]
