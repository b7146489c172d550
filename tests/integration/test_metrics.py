"""``/metrics`` from a real ``mbtop agent``: scraped over real HTTP(S), checked by ``promtool``
and against the kernel (``ss``). Private network namespaces need no lock; the squatter test uses
the lab stack (run it under the stack lock)."""

from __future__ import annotations

import calendar
import math
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mbtop.export import webconfig
from mbtop.export.collector import FrameCollector
from mbtop.export.families import VERDICTS
from mbtop.export.server import MetricsServer
from tests.support import stack as st
from tests.support.netns import REPO, Holder, Netns, can_netns, netns, parse_ss_tanp
from tests.support.require import require

pytestmark = pytest.mark.integration

PORT = 10125
PASSWORD = "correct horse"


def families(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def get(fams: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return fams.get((name, frozenset(labels.items())))


@contextmanager
def agent(ns: Netns | None, *args: str) -> Iterator[subprocess.Popen[str]]:
    argv = [sys.executable, "-m", "mbtop", "agent", "--no-serve", "--no-record", "--interval", "0.5", *args]
    proc = subprocess.Popen(
        ns.argv(*argv) if ns else argv, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def curl(ns: Netns | None, url: str, *opts: str) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", *opts, url]
    return subprocess.run(ns.argv(*argv) if ns else argv, capture_output=True, text=True, timeout=30)


def scrape(ns: Netns | None, url: str, *opts: str, frames: int = 1, timeout: float = 30) -> str:
    """The body of a 200 answer once the agent has published at least ``frames`` frames."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        out = curl(ns, url, *opts)
        body, _, code = out.stdout.rpartition("\n")
        last = f"curl {out.returncode} {code}: {out.stderr.strip()}"
        if code == "200":
            seen = get(families(body), "mbtop_frames_total")
            if seen is not None and seen >= frames:
                return body
        time.sleep(0.2)
    raise AssertionError(f"no scrape with {frames} frames from {url}: {last}")


def promtool_ok(text: str) -> None:
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scrape_before_the_first_frame_says_so_and_is_never_a_500() -> None:
    server = MetricsServer(FrameCollector(), ("127.0.0.1", 0)).start()
    try:
        host, port = server.address
        out = curl(None, f"http://{host}:{port}/metrics")
        body, _, code = out.stdout.rpartition("\n")
        assert code == "200", out
        fams = families(body)
        age = get(fams, "mbtop_sample_age_seconds")
        assert age is not None and math.isnan(age)
        assert get(fams, "mbtop_frames_total") == 0
        assert not [k for k in fams if k[0] == "mbtop_port_listening"]
        assert get(fams, "process_resident_memory_bytes")  # the client library's process metrics
        promtool_ok(body)
        assert curl(None, f"http://{host}:{port}/nothing").stdout.endswith("\n404")
    finally:
        server.stop()


def test_connections_by_state_and_accept_queues_agree_with_ss_and_promtool() -> None:
    require(can_netns(), "network namespaces need root")
    with netns() as ns:
        smtp = {
            "name": "master",
            "listen": [["127.0.0.1", 25, 64]],
            "connect": [["127.0.0.2", "127.0.0.1", 25, 23]],
            "timewait": [["127.0.0.1", 25, 6]],
        }
        queued = {"name": "master", "listen": [["127.0.0.1", 587, 7]], "connect": [["127.0.0.3", "127.0.0.1", 587, 4]]}
        with (
            Holder(ns.argv(), smtp),
            Holder(ns.argv(), {**queued, "no_accept": True}),
            agent(ns, "--no-health", "--listen", f"127.0.0.1:{PORT}") as proc,
        ):
            url = f"http://127.0.0.1:{PORT}/metrics"
            seen = get(families(scrape(ns, url, frames=1)), "mbtop_frames_total") or 0
            before = ns.run("ss", "-Htan").stdout
            body = scrape(ns, url, frames=int(seen) + 2)  # from a sample taken after ``before``
            after = ns.run("ss", "-Htan").stdout
            assert proc.poll() is None
        promtool_ok(body)
        fams = families(body)
        for ss_text in (before, after):
            rows = [r for r in parse_ss_tanp(ss_text) if r["lport"] == 25 and r["state"] != "LISTEN"]
            by_state = Counter(r["state"] for r in rows)
            assert by_state["ESTABLISHED"] == 23 and by_state["TIME_WAIT"] == 6, by_state
            for state, n in by_state.items():
                assert get(fams, "mbtop_port_connections", port="25", daemon="postfix", state=state) == n, state
        assert get(fams, "mbtop_port_connections", port="25", daemon="postfix", state="SYN_RECV") == 0
        assert get(fams, "mbtop_port_listening", port="25", daemon="postfix") == 1
        assert get(fams, "mbtop_port_listening", port="80", daemon="nginx") == 0
        assert get(fams, "mbtop_finding", code="not-listening", target="port:80", severity="critical") == 1
        assert get(fams, "mbtop_port_accept_queue", port="587", daemon="postfix") == 4
        assert get(fams, "mbtop_port_accept_queue_limit", port="587", daemon="postfix") == 7
        assert get(fams, "mbtop_port_accept_queue", port="25", daemon="postfix") == 0
        assert (get(fams, "mbtop_sample_age_seconds") or 99) < 5


def _web_config(tmp: Path, users: bool = True) -> Path:
    key, cert = tmp / "m.key", tmp / "m.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    path = tmp / "web.yml"
    text = "tls_server_config:\n  cert_file: m.crt\n  key_file: m.key\n"
    if users:
        text += f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_tls_and_basic_auth_from_a_web_config(tmp_path: Path) -> None:
    require(can_netns(), "network namespaces need root")
    web = _web_config(tmp_path)
    with netns() as ns, agent(ns, "--no-health", "--listen", f"127.0.0.1:{PORT}", "--web-config", str(web)):
        url = f"https://127.0.0.1:{PORT}/metrics"
        body = scrape(ns, url, "--cacert", str(tmp_path / "m.crt"), "-u", f"prometheus:{PASSWORD}")
        assert get(families(body), "mbtop_port_listening", port="25", daemon="postfix") == 0
        assert curl(ns, url, "-k", "-u", "prometheus:wrong").stdout.endswith("\n401")
        assert curl(ns, url, "-k", "-u", f"nobody:{PASSWORD}").stdout.endswith("\n401")
        assert curl(ns, url, "-k").stdout.endswith("\n401")
        plain = curl(ns, f"http://127.0.0.1:{PORT}/metrics", "-u", f"prometheus:{PASSWORD}")
        assert plain.returncode != 0 and not plain.stdout.rpartition("\n")[2].startswith("2"), plain
    (tmp_path / "t").mkdir()
    tampered = _web_config(tmp_path / "t")
    tampered.chmod(0o620)  # writable by its group: refused as mbtop's config would be
    with netns() as ns, agent(ns, "--no-health", "--listen", f"127.0.0.1:{PORT}", "--web-config", str(tampered)) as p:
        assert p.wait(30) == 2
        assert p.stderr is not None and "writable by group or others" in p.stderr.read()


def test_a_network_address_only_when_asked(tmp_path: Path) -> None:
    require(can_netns(), "network namespaces need root")
    with netns() as ns:
        for address in ("0.0.0.0", "[::]"):
            with agent(ns, "--no-health", "--listen", f"{address}:{PORT}") as proc:
                assert proc.wait(30) == 2
                assert proc.stderr is not None
                said = proc.stderr.read()
                assert "not a loopback address" in said and "--listen-remote" in said, said
            assert ns.run("ss", "-Htln").stdout.strip() == ""  # nothing was left listening
        ns.run("ip", "addr", "add", "192.0.2.7/24", "dev", "lo")
        with agent(ns, "--no-health", "--listen", f"0.0.0.0:{PORT}", "--listen-remote"):
            body = scrape(ns, f"http://192.0.2.7:{PORT}/metrics")
            assert get(families(body), "mbtop_port_listening", port="25", daemon="postfix") == 0
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[agent]\nlisten = "0.0.0.0:{PORT}"\n')
        out = ns.mbtop("agent", "--no-serve", "--config", str(cfg), "--no-record")
        assert out.returncode == 2 and "listen_remote = true" in out.stderr, out.stderr


def test_a_squatters_port_shows_as_the_model_says(tmp_path: Path) -> None:
    """On the lab stack (under the lock): a foreign process on Redis' port listens (1) and is the
    unexpected-owner finding; both gone when Redis has its port back."""
    st.require_stack()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"

    def finding(body: str) -> float | None:
        return get(families(body), "mbtop_finding", code="unexpected-owner", target="port:6379", severity="critical")

    with agent(None, "--listen", f"127.0.0.1:{port}"):
        body = scrape(None, url)
        promtool_ok(body)
        ss = subprocess.run(["ss", "-Htanp"], capture_output=True, text=True).stdout
        ss_listening = {r["lport"] for r in parse_ss_tanp(ss) if r["state"] == "LISTEN"}
        fams = families(body)
        for (name, labels), v in fams.items():
            if name == "mbtop_port_listening":
                p = int(dict(labels)["port"])
                assert v == (1 if p in ss_listening else 0), p
        assert finding(body) is None
        with st.squatter_on(6379, "redis-server"):
            st.wait_until(lambda: finding(scrape(None, url)) == 1, 30, what="the unexpected-owner series")
            fams = families(scrape(None, url))
            assert get(fams, "mbtop_port_listening", port="6379", daemon="redis") == 1
            snap = st.snapshot("--no-health")
            model = next(p for p in snap["ports"] if p["port"] == 6379)
            codes = {f["code"] for f in model["findings"]}
            got = {dict(k[1])["code"] for k in fams if k[0] == "mbtop_finding" and dict(k[1])["target"] == "port:6379"}
            assert "unexpected-owner" in codes and codes <= got | {"health-failed"}, (codes, got)
        st.wait_until(lambda: finding(scrape(None, url)) is None, 60, what="the finding to go with the squatter")
    assert os.path.exists("/run/mbtop-stack")


def test_the_shipped_web_config_is_read_as_exporter_toolkit_and_mbtop_read_it(tmp_path: Path) -> None:
    """The shipped web-config example, filled in with a real certificate and user, is accepted by
    promtool (exporter-toolkit's own check) and by mbtop, and the user's password works."""
    share = REPO / "mbtop" / "share" / "prometheus"
    made = _web_config(tmp_path)
    hashed = next(line.split("'")[1] for line in made.read_text().splitlines() if "prometheus:" in line)
    example = (share / "web-config.yml").read_text()
    filled = example.replace("metrics.crt", "m.crt").replace("metrics.key", "m.key")
    filled = filled.replace("  # prometheus: $2b$12$...", f"  prometheus: '{hashed}'")
    path = tmp_path / "filled.yml"
    path.write_text(filled)
    out = subprocess.run(["promtool", "check", "web-config", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    cfg = webconfig.load(path)
    assert cfg.tls and webconfig.BasicAuth(cfg.users).check("prometheus", PASSWORD)


def _not_after(path: str) -> float:
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", path], capture_output=True, text=True)
    text = out.stdout.strip().removeprefix("notAfter=")
    return calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y GMT"))


def test_health_certificates_services_and_firewall_against_the_truth() -> None:
    """On the lab stack (under the lock): the protocol checks' answers, the certificate's expiry
    as openssl reads it, the daemons as their own status commands see them, and the verdicts as
    `mbtop firewall`'s model gives them (snapshot --json)."""
    st.require_stack()
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"

    def checked(body: str) -> bool:
        fams = families(body)
        return all(get(fams, "mbtop_health_up", target=t) is not None for t in ("port:25", "port:443", "socket:clamd"))

    with agent(None, "--listen", f"127.0.0.1:{port}"):
        st.wait_until(lambda: checked(scrape(None, url)), 60, what="the first protocol checks")
        body = scrape(None, url)
        snap = st.snapshot("--no-health")
    fams = families(body)
    for target in ("port:25", "port:443", "port:6379", "socket:clamd"):
        assert get(fams, "mbtop_health_up", target=target) == 1, target
        took = get(fams, "mbtop_health_duration_seconds", target=target)
        assert took is not None and 0 < took < 3, (target, took)
    cert = "/etc/nginx/ssl/mailborder.crt"
    end = _not_after(cert)
    assert get(fams, "mbtop_certificate_expiry_timestamp_seconds", target=cert) == end
    seen = get(fams, "mbtop_certificate_expiry_timestamp_seconds", target="port:443")
    assert seen is not None and abs(seen - end) <= 86400 + 60, (seen, end)  # the check's figure is in days
    for daemon, argv in (("postfix", ["postfix", "status"]), ("nginx", ["service", "nginx", "status"])):
        running = subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
        assert get(fams, "mbtop_service_up", daemon=daemon) == (1 if running else 0), daemon
    for p in snap["ports"]:
        if p["firewall"] is None:
            continue
        got = {dict(k[1])["verdict"]: v for k, v in fams.items()
               if k[0] == "mbtop_firewall_verdict" and dict(k[1])["port"] == str(p["port"])}  # fmt: skip
        assert got == {v: (1 if v == p["firewall"]["verdict"] else 0) for v in VERDICTS}, p["port"]
    assert get(fams, "mbtop_findings", severity="critical") == sum(
        1 for f in snap["findings"] if f["severity"] == "critical"
    )


def test_cluster_peers_are_in_the_agents_scrape(tmp_path: Path) -> None:
    """``[cluster] peers`` in a private namespace: a peer that accepts on 10050 is 1, one that
    refuses 0, in the real agent's /metrics (the series come with the frame, mbtop.export.cluster)."""
    require(can_netns(), "network namespaces need root")
    cfg = tmp_path / "config.toml"
    cfg.write_text('[cluster]\npeers = ["127.0.0.8", "127.0.0.9"]\nevery = 1\ntimeout = 1\n')
    spec = {"name": "mb-cluster", "listen": [["127.0.0.8", 10050]]}
    with (
        netns() as ns,
        Holder(ns.argv(), spec),
        agent(ns, "--config", str(cfg), "--no-health", "--listen", f"127.0.0.1:{PORT}"),
    ):
        url = f"http://127.0.0.1:{PORT}/metrics"

        def peers() -> dict[str, float]:
            fams = families(scrape(ns, url))
            return {dict(k[1])["peer"]: v for k, v in fams.items() if k[0] == "mbtop_cluster_peer_up"}

        st.wait_until(lambda: len(peers()) == 2, 30, what="both peers checked")
        assert peers() == {"127.0.0.8": 1, "127.0.0.9": 0}
