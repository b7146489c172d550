"""The real culprits of "port already in use", from the real Debian packages, on the systemd
gateway: exim4 on 25 (unpacked inside the gateway's overlays, since it conflicts with postfix; its
unit is the one systemd generates from the package's init script, as on Debian 12), apache2 on 80
and zabbix-agent on 10050 (installed on the host by scripts/stack install, never started there;
masked at the gateway's boot, started here as their packaged units).

Each test: the documented service stopped, the culprit started by systemd, mbtop's finding names
it, explains it and gives the fix; free-port's preview says what it stops; then the *exact* command
of the finding is run, and it must bring the documented service back on its port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.systemd.conftest import Gateway

DEBS = "/var/cache/mbtop-lab/debs"
EXIM_CONF = """dc_eximconfig_configtype='local'
dc_other_hostnames=''
dc_local_interfaces='127.0.0.1 ; ::1'
dc_readhost=''
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost=''
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname=''
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
"""
# What exim4's maintainer scripts do, for what the gateway needs to run it.
UNPACK_EXIM = f"""set -e
T=$(mktemp -d)
for f in {DEBS}/*.deb; do dpkg -x "$f" "$T"; done
for d in usr etc var lib; do [ -d "$T/$d" ] && cp -a "$T/$d/." "/$d/"; done
rm -rf "$T"
id Debian-exim >/dev/null 2>&1 ||
  adduser --system --group --home /var/spool/exim4 --no-create-home --quiet --allow-bad-names Debian-exim
install -d -o Debian-exim -g Debian-exim -m 750 /var/spool/exim4 /var/spool/exim4/db /var/spool/exim4/input \
  /var/spool/exim4/msglog
install -d -o Debian-exim -g adm -m 2750 /var/log/exim4
install -d -m 755 /var/lib/exim4
echo gw.test > /etc/mailname
cat > /etc/exim4/update-exim4.conf.conf
update-exim4.conf
"""


def _holder(gw: Gateway, port: int) -> str:
    return gw.run("ss", "-Htlnp", f"sport = :{port}").stdout


def _culprit_finding(gw: Gateway, port: int) -> dict:
    snap = gw.snapshot()
    found = [f for f in snap["findings"] if f["code"] == "unexpected-owner" and f["port"] == port]
    assert len(found) == 1, snap["findings"]
    return found[0]


def _check(gw: Gateway, culprit_unit: str, process: str, port: int, documented_unit: str, what: str) -> None:
    gw.run("systemctl", "stop", documented_unit)
    gw.run("systemctl", "unmask", culprit_unit)
    gw.run("systemctl", "daemon-reload")
    gw.run("systemctl", "start", culprit_unit)
    gw.wait(f"{process} on port {port}", lambda: f'(("{process}",' in _holder(gw, port))

    finding = _culprit_finding(gw, port)
    assert finding["severity"] == "critical" and finding["action"] == f"free-port {port}"
    assert f"is held by {process} (pid " in finding["message"] and f"), {what}, not " in finding["message"], finding
    command = finding["fix"].split("; ")[0]
    assert command.startswith(f"systemctl disable --now {culprit_unit.removesuffix('.service')} && systemctl start ")

    preview = gw.mbtop("free-port", str(port), "--start", "--dry-run")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert f"free port {port} " in preview.stdout and f": stop {what} ({process})" in preview.stdout, preview.stdout
    assert f"send SIGTERM to {process} (pid " in preview.stdout
    assert "to keep it away: systemctl disable" in preview.stdout and f"the fix: {command}" in preview.stdout

    # The finding's own command, as an operator would paste it.
    done = gw.run("sh", "-c", command, check=False)
    assert done.returncode == 0, (command, done.stderr)
    assert gw.run("systemctl", "is-enabled", culprit_unit, check=False).stdout.strip() == "disabled"
    assert gw.run("systemctl", "is-active", culprit_unit, check=False).stdout.strip() == "inactive"
    gw.wait(f"{documented_unit} back on port {port}", lambda: f'(("{process}",' not in _holder(gw, port)
            and gw.listening(port))  # fmt: skip
    assert not [f for f in gw.snapshot()["findings"] if f["code"] == "unexpected-owner"]


@pytest.fixture
def restore(gateway: Gateway) -> Iterator[list[tuple[str, str]]]:
    """(culprit unit, documented unit) pairs put back however the test ends: culprit stopped and
    masked as at boot, the documented unit started."""
    pairs: list[tuple[str, str]] = []
    yield pairs
    for culprit, documented in pairs:
        gateway.run("systemctl", "stop", culprit, check=False)
        gateway.run("systemctl", "mask", culprit, check=False)
        gateway.run("systemctl", "start", documented, check=False)


def test_exim4_on_25(gateway: Gateway, restore: list[tuple[str, str]]) -> None:
    restore.append(("exim4.service", "postfix.service"))
    done = gateway.run("ls", DEBS, check=False)
    if "exim4-daemon-light_" not in done.stdout:
        pytest.fail(f"no exim4 packages in {DEBS}: run scripts/stack install")
    # The script reads exim4's settings from stdin (cat > update-exim4.conf.conf).
    gateway.run("sh", "-c", UNPACK_EXIM, input=EXIM_CONF, timeout=120)
    _check(gateway, "exim4.service", "exim4", 25, "postfix.service", "Debian's default mail server")


def test_apache2_on_80(gateway: Gateway, restore: list[tuple[str, str]]) -> None:
    restore.append(("apache2.service", "nginx.service"))
    _check(gateway, "apache2.service", "apache2", 80, "nginx.service", "the Apache web server")


def test_zabbix_agent_on_10050(gateway: Gateway, restore: list[tuple[str, str]]) -> None:
    restore.append(("zabbix-agent.service", "mb-cluster.service"))
    _check(gateway, "zabbix-agent.service", "zabbix_agentd", 10050, "mb-cluster.service", "a Zabbix agent")


def test_a_second_redis_instance_on_6379(gateway: Gateway) -> None:
    """Debian's redis-server@.service template started as a second instance on the documented
    port: redis-server.service cannot bind and fails; mbtop says a second instance holds the port
    and how to find the unit that started it."""
    conf = 'bind 127.0.0.1\nport 6379\ndir /var/lib/redis\ndbfilename dump-second.rdb\nlogfile ""\n'
    gateway.run("tee", "/etc/redis/redis-second.conf", input=conf)
    gateway.run("chown", "redis:redis", "/etc/redis/redis-second.conf")
    try:
        gateway.run("systemctl", "stop", "redis-server.service")
        gateway.run("systemctl", "start", "redis-server@second.service")
        second = int(gateway.show("redis-server@second.service", "MainPID")["MainPID"])
        assert gateway.run("systemctl", "start", "redis-server.service", check=False).returncode != 0
        # Restart=always retries until the start limit: then it stays failed (between two attempts
        # it is auto-restart, during one it is activating — a starting unit).
        gateway.wait("redis-server.service to hit its start limit", lambda: gateway.show(
            "redis-server.service", "ActiveState")["ActiveState"] == "failed")  # fmt: skip
        snap = gateway.snapshot()
        found = [f for f in snap["findings"] if f["code"] == "second-instance"]
        assert len(found) == 1 and found[0]["port"] == 6379, snap["findings"]
        assert (
            f"is held by redis-server (pid {second}), a second instance: redis-server.service is "
            in found[0]["message"]
        )
        assert found[0]["fix"].startswith(f"systemctl status {second} names the unit that started it")
        # ... and it does.
        assert "redis-server@second.service" in gateway.run("systemctl", "status", str(second), check=False).stdout
        redis = next(s for s in snap["services"] if s["name"] == "redis")
        assert redis["state"] == "failed" and redis["result"], redis
    finally:
        gateway.run("systemctl", "stop", "redis-server@second.service", check=False)
        gateway.run("systemctl", "reset-failed", "redis-server.service", check=False)
        gateway.run("systemctl", "start", "redis-server.service")
    gateway.wait("redis-server.service on 6379 again", lambda: gateway.listening(6379))
