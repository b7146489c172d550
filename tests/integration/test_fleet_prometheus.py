"""Issue 20's fleet test: three real ``mbtop agent``s, each in its own network namespace with its own
state (healthy; port 25 down; an SMTP flood), scraped by the real Prometheus server (Debian's
``/usr/bin/prometheus`` on loopback, temporary config and storage); Prometheus' API has the expected
series for each, and ``mbtop fleet`` in a real terminal (tmux) shows the three rows as they are,
through Prometheus and then scraping the agents directly with no Prometheus.

Private namespaces joined to the host by veth pairs: no lab stack, no lock. The catalog is cut down
to port 25 (config) and each agent follows its own logs, so "healthy" means a listener of the right
name on it; protocol checks are off (the namespaces hold sockets, not daemons).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from mbtop.catalog import load_reference
from tests.support import promserver
from tests.support.netns import REPO, Holder, Netns, can_netns, netns, write_config
from tests.support.require import require
from tests.support.tmux import Tmux, mbtop_bin

PORT = 10125
STATES = ("healthy", "port-down", "flood")


def _config(tmp: Path, name: str) -> Path:
    cat = load_reference()
    text = "".join(f"[ports.{p.port}]\ndisabled = true\n" for p in cat.ports if p.port != 25)
    text += "".join(f"[sockets.{s.id}]\ndisabled = true\n" for s in cat.sockets)
    text += "[flood]\ntotal_per_minute = 20\nconcurrent = 15\nsource_per_30s = 100\n"
    # Its own (empty) logs: the host's mail log has other tests' floods in it.
    logs = tmp / f"{name}-logs"
    logs.mkdir()
    for f in ("mail.log", "access.log", "error.log"):
        (logs / f).touch()
    text += f'[logs]\nmail = "{logs}/mail.log"\nweb_access = "{logs}/access.log"\nweb_error = "{logs}/error.log"\n'
    return write_config(tmp / f"{name}.toml", text)


@contextmanager
def linked(ns: Netns, index: int) -> Iterator[str]:
    """A veth pair host ↔ namespace; the namespace's address is returned."""
    tag = uuid.uuid4().hex[:6]
    host, inner = f"mbf{tag}h", f"mbf{tag}n"
    net = f"10.{200 + index}.{int(tag[:2], 16)}"
    subprocess.run(["ip", "link", "add", host, "type", "veth", "peer", "name", inner, "netns", ns.name], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{net}.1/30", "dev", host], check=True)
        subprocess.run(["ip", "link", "set", host, "up"], check=True)
        ns.run("ip", "addr", "add", f"{net}.2/30", "dev", inner)
        ns.run("ip", "link", "set", inner, "up")
        yield f"{net}.2"
    finally:
        subprocess.run(["ip", "link", "delete", host], check=False, capture_output=True)


@contextmanager
def agent(ns: Netns, config: Path, address: str) -> Iterator[str]:
    target = f"{address}:{PORT}"
    argv = ns.argv(
        sys.executable, "-m", "mbtop", "--config", str(config), "agent", "--no-serve", "--no-record", "--no-health",
        "--interval", "0.5", "--listen", target, "--listen-remote",
    )  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{target}/metrics", timeout=2) as resp:
                    if b"mbtop_port_listening{" in resp.read():
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                raise AssertionError(f"the agent in {ns.name} never served its metrics: {err}")
            time.sleep(0.2)
        yield target
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """{state: target} of three running agents, each in its own namespace."""
    if not can_netns():
        pytest.skip("needs root and ip netns")
    require(Path(promserver.BINARY).exists(), "prometheus is not installed (scripts/stack install installs it)")
    tmp = tmp_path_factory.mktemp("fleet")
    with ExitStack() as stack:
        targets: dict[str, str] = {}
        for i, state in enumerate(STATES):
            ns = stack.enter_context(netns())
            address = stack.enter_context(linked(ns, i))
            if state != "port-down":
                stack.enter_context(Holder(ns.argv(), {"name": "master", "listen": [["0.0.0.0", 25, 512]]}))
            targets[state] = stack.enter_context(agent(ns, _config(tmp, state), address))
            if state == "flood":
                # New SMTP connections from 40 loopback sources, held open: over the namespace's
                # thresholds (20 a minute, 15 at once) for as long as the test runs.
                spec = {"name": "flood", "connect": [[f"127.0.9.{n}", "127.0.0.1", 25, 2] for n in range(1, 41)]}
                stack.enter_context(Holder(ns.argv(), spec))
        yield targets


def _by_instance(result: list[dict]) -> dict[str, float]:
    return {r["metric"]["instance"]: float(r["value"][1]) for r in result}


def test_prometheus_api_and_fleet_screen(fleet: dict[str, str]) -> None:
    healthy, down, flood = (fleet[s] for s in STATES)
    with promserver.prometheus(list(fleet.values()), rules=[_rules_now()]) as prom:
        prom.wait_scraped(list(fleet.values()))
        deadline = time.monotonic() + 30
        while True:  # the flood alert needs the agent's rate window: a few samples
            listening = _by_instance(prom.query('mbtop_port_listening{port="25"}'))
            alert = _by_instance(prom.query("mbtop_flood_alert"))
            if alert.get(flood) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert listening == {healthy: 1.0, down: 0.0, flood: 1.0}
        assert alert == {healthy: 0.0, down: 0.0, flood: 1.0}
        assert _by_instance(prom.query("up")) == {healthy: 1.0, down: 1.0, flood: 1.0}
        findings = {(r["metric"]["instance"], r["metric"]["code"]) for r in prom.query("mbtop_finding == 1")}
        assert {i for i, code in findings if code == "not-listening"} == {down}, findings
        established = _by_instance(prom.query('sum by (instance) (mbtop_port_connections{state="ESTABLISHED"})'))
        assert established.get(flood, 0) >= 40, established
        # The shipped alert rules, evaluated by this Prometheus on these agents: port down fires for
        # the second gateway only, the flood alert for the third only.
        firing = _firing(prom, "MbtopPortDown")
        assert {i for n, i in firing if n == "MbtopPortDown"} == {down}, firing
        assert {i for n, i in _firing(prom, "MbtopSmtpFlood") if n == "MbtopSmtpFlood"} == {flood}

        with Tmux([mbtop_bin(), "fleet", "--prometheus", prom.url, "--interval", "1"], 160, 30) as t:
            screen = t.wait_for(lambda s: "3 gateways" in s and f"{flood}" in s and "/s" in s, timeout=30)
            _as_they_are(_rows(screen, fleet), healthy, down, flood, screen)
            # enter on the port-down gateway: its findings and port 25 NOT LISTENING
            order = sorted(fleet.values())
            t.send(*(["Down"] * order.index(down)), "Enter")
            t.wait_for("NOT LISTENING", timeout=15)

    # The same with no Prometheus: the agents scraped directly.
    targets = ",".join(fleet[s] for s in STATES)
    with Tmux([mbtop_bin(), "fleet", "--targets", targets, "--interval", "1"], 160, 30) as t:
        screen = t.wait_for(lambda s: "3 gateways" in s and "SMTP flood" in s, timeout=30)
        _as_they_are(_rows(screen, fleet), healthy, down, flood, screen)


def _rules_now() -> Path:
    """The shipped alert rules with every ``for:`` at 0s: here only the expressions and labels are
    under test (the durations are promtool's unit tests, tests/unit/test_prometheus_rules.py)."""
    text = (REPO / "mbtop" / "share" / "prometheus" / "mbtop-alerts.yml").read_text()
    out = Path(tempfile.mkdtemp(prefix="mbtop-rules-")) / "mbtop-alerts.yml"
    out.write_text(re.sub(r"(?m)^(\s+)for: .*$", r"\1for: 0s", text))
    return out


def _firing(prom: promserver.Prometheus, name: str, timeout: float = 20) -> set[tuple[str, str]]:
    """(alert, instance) of the firing alerts once ``name`` fires (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{prom.url}/api/v1/alerts", timeout=5) as resp:  # noqa: S310
            alerts = json.load(resp)["data"]["alerts"]
        firing = {(a["labels"]["alertname"], a["labels"].get("instance", "")) for a in alerts if a["state"] == "firing"}
        if any(n == name for n, _ in firing) or time.monotonic() > deadline:
            return firing
        time.sleep(0.5)


def _rows(screen: str, fleet: dict[str, str]) -> dict[str, str]:
    """Each gateway's line on the screen, from its status mark on."""
    out: dict[str, str] = {}
    for line in screen.splitlines():
        for target in fleet.values():
            if target in line:
                m = re.search(r"(OK|WARN|CRIT|UNKN)\s+" + re.escape(target) + r"(.*)$", line)
                if m:
                    out[target] = m.group(1) + " " + m.group(2)
    assert set(out) == set(fleet.values()), screen
    return out


def _as_they_are(rows: dict[str, str], healthy: str, down: str, flood: str, screen: str) -> None:
    """Status, critical count, ports down and flood columns of each row (160 columns: all shown).
    The healthy namespace may have warnings of its own (no firewall, the clock), never a critical one."""
    cols = {t: r.split() for t, r in rows.items()}
    assert cols[healthy][0] in ("OK", "WARN") and cols[healthy][1] == "0", screen
    assert cols[healthy][3:5] == ["0", "no"], screen
    assert cols[down][0] == "CRIT" and cols[down][3:5] == ["1", "no"] and "1 port down" in rows[down], screen
    assert cols[flood][0] == "CRIT" and cols[flood][3] == "0" and re.fullmatch(r"\d+/s", cols[flood][4]), screen
    assert "SMTP flood" in rows[flood] and "SMTP flood" not in rows[healthy] + rows[down], screen
