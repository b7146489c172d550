"""Services as the real systemd reports them: state, main pid, since when, and a failed unit's
Result with the last lines of its journal.  Every figure is compared with `systemctl show`."""

from __future__ import annotations

from datetime import datetime

from mbtop.catalog import load_reference
from tests.systemd.conftest import Gateway

CATALOG = load_reference()


def _services(snap: dict) -> dict[str, dict]:
    return {s["name"]: s for s in snap["services"]}


def test_every_service_is_read_from_systemd(gateway: Gateway) -> None:
    snap = _services(gateway.snapshot())
    for svc in CATALOG.services:
        unit = svc.unit
        st = snap[svc.name]
        props = gateway.show(unit, "ActiveState", "SubState", "MainPID", "ActiveEnterTimestamp")
        assert st["manager"] == "systemd", (svc.name, st)
        assert props["ActiveState"] == "active", (unit, props)
        assert st["state"] == "running", (svc.name, st)
        assert st["detail"] == props["SubState"], (svc.name, st, props)
        main = int(props["MainPID"])
        if main:
            assert st["pid"] == main, (svc.name, st, props)
        else:
            # postfix.service is a oneshot wrapper and postfix@- has GuessMainPID=no: systemd knows
            # no main pid, mbtop names Postfix's master.
            comm = gateway.run("cat", f"/proc/{st['pid']}/comm").stdout.strip()
            assert comm in svc.processes, (svc.name, st, comm)
        # since = when the unit became active (systemctl prints it to the second, in local time;
        # mbtop derives it from the monotonic stamp: they agree within that second).
        enter = int(gateway.run("date", "-d", props["ActiveEnterTimestamp"], "+%s").stdout)
        since = datetime.fromisoformat(st["since"]).timestamp()
        assert enter - 1 <= since <= enter + 2, (svc.name, st["since"], props["ActiveEnterTimestamp"])


def test_a_stopped_unit_is_stopped(gateway: Gateway) -> None:
    gateway.run("systemctl", "stop", "mb-cluster.service")
    try:
        st = _services(gateway.snapshot())["mb-cluster"]
        assert gateway.show("mb-cluster.service", "ActiveState")["ActiveState"] == "inactive"
        assert (st["state"], st["manager"], st["detail"], st["pid"]) == ("stopped", "systemd", "dead", None)
    finally:
        gateway.run("systemctl", "start", "mb-cluster.service")


def test_a_unit_that_fails_to_start_shows_its_result_and_journal(gateway: Gateway) -> None:
    """nginx with a bad configuration: its ExecStartPre (nginx -t) fails, the unit is failed with
    Result=exit-code, and nginx's own complaint is the last line of its journal."""
    bad = "/etc/nginx/conf.d/mbtop-broken.conf"
    gateway.run("sh", "-c", f"echo 'mbtop_no_such_directive on;' > {bad}")
    try:
        done = gateway.run("systemctl", "restart", "nginx.service", check=False)
        assert done.returncode != 0
        props = gateway.show("nginx.service", "ActiveState", "Result")
        assert props == {"ActiveState": "failed", "Result": "exit-code"}, props
        snap = gateway.snapshot()
        st = _services(snap)["nginx"]
        assert (st["state"], st["manager"], st["result"]) == ("failed", "systemd", "exit-code"), st
        assert st["log"] and any("mbtop_no_such_directive" in line for line in st["log"]), st["log"]
        found = [f for f in snap["findings"] if f["code"] == "service-failed" and "nginx" in f["message"]]
        assert len(found) == 1, snap["findings"]
        assert found[0]["severity"] == "critical"
        assert "exit-code" in found[0]["message"] and "mbtop_no_such_directive" in found[0]["message"], found[0]
        assert "journalctl -u nginx.service" in found[0]["fix"]
    finally:
        gateway.run("rm", "-f", bad)
        gateway.run("systemctl", "reset-failed", "nginx.service", check=False)
        gateway.run("systemctl", "start", "nginx.service")
    gateway.wait("nginx listening on 443 again", lambda: gateway.listening(443))
    assert _services(gateway.snapshot())["nginx"]["state"] == "running"
