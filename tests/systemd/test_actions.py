"""Actions through the real systemd: restart, and free-port followed by --start, each checked with
systemctl (a new MainPID, the unit active), ss (the port listening, held by the unit) and the
audit log (the argv that ran is systemctl's)."""

from __future__ import annotations

from tests.systemd.conftest import Gateway


def _main_pid(gw: Gateway, unit: str) -> int:
    return int(gw.show(unit, "MainPID")["MainPID"])


def _last_audit(gw: Gateway, action: str, target: str) -> dict:
    lines = [a for a in gw.audit() if a["action"] == action and a["target"] == target]
    assert lines, f"no audit line for {action} {target}: {gw.audit()}"
    return lines[-1]


def test_restart_goes_through_systemd(gateway: Gateway) -> None:
    unit = "redis-server.service"
    old = _main_pid(gateway, unit)
    assert old > 0
    done = gateway.mbtop("restart", "redis", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    new = _main_pid(gateway, unit)
    assert new not in (0, old), (old, new)
    assert gateway.show(unit, "ActiveState")["ActiveState"] == "active"
    assert gateway.listening(6379)
    holder = gateway.run("ss", "-Htlnp", "sport = :6379").stdout
    assert f"pid={new}," in holder, holder
    line = _last_audit(gateway, "restart", "redis")
    assert line["result"] == "done", line
    assert ["systemctl", "restart", unit] in line["argv"], line


def test_free_port_then_start_starts_the_unit(gateway: Gateway) -> None:
    """mb-filter stopped, a foreign process on its port 10031: free-port --start stops the squatter
    and starts the unit through systemd."""
    unit = "mb-filter.service"
    gateway.run("systemctl", "stop", unit)
    squatter = gateway.popen(
        "python3",
        "-c",
        "import os, socket, time; s = socket.socket(); "
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 10031)); "
        "s.listen(); print(os.getpid(), flush=True); time.sleep(300)",
    )
    assert squatter.stdout is not None
    inside = squatter.stdout.readline().strip()  # its pid in the gateway
    try:
        assert inside.isdigit(), squatter.stderr
        snap = gateway.snapshot()
        found = [f for f in snap["findings"] if f["code"] == "unexpected-owner" and f["port"] == 10031]
        assert len(found) == 1, snap["findings"]
        # python3 is no known culprit: the generic message and fix, as before the culprit table.
        assert (
            "is held by python3 (pid " in found[0]["message"]
            and "not mb-filter (expected mb-filter)" in found[0]["message"]
        ), found[0]
        assert found[0]["fix"].startswith("stop the process holding the port, then start mb-filter"), found[0]
        done = gateway.mbtop("free-port", "10031", "--start", "--yes", "--grace", "2")
        assert done.returncode == 0, done.stdout + done.stderr
        assert squatter.wait(timeout=10) is not None
        assert gateway.show(unit, "ActiveState")["ActiveState"] == "active"
        main = _main_pid(gateway, unit)
        assert main > 0
        holder = gateway.run("ss", "-Htlnp", "sport = :10031").stdout
        assert f"pid={main}," in holder and "mb-filter" in holder, holder
        line = _last_audit(gateway, "free-port", "10031")
        assert line["result"] == "done", line
        assert ["systemctl", "restart", unit] in line["argv"], line
    finally:
        if squatter.poll() is None and inside.isdigit():
            gateway.run("kill", inside, check=False)
        squatter.wait(timeout=10)
        gateway.run("systemctl", "start", unit)
