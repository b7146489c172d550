"""The metrics exporter's pure parts: listen addresses, the web-config file, the collector's
families and counters over frames from a recorded sample file played through a real engine (no
system is read; the log events of one test are hand-built, and say so)."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import time
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mbtop.catalog import load_reference
from mbtop.config import ConfigError, from_data
from mbtop.engine.engine import Engine
from mbtop.engine.frame import Frame, LogLines
from mbtop.export import webconfig
from mbtop.export.collector import MAIL_KINDS, FrameCollector
from mbtop.export.listen import DEFAULT_PORT, ListenError, parse_listen
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.probes.record import Replay, load

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "stack-trouble.json"
SAMPLES = load(FIXTURE)
CATALOG = load_reference()

# The interface the README promises (metric -> its labels); more may come, these never go.
REQUIRED = {
    "mbtop_port_listening": {"port", "daemon"},
    "mbtop_port_connections": {"port", "daemon", "state"},
    "mbtop_port_new_connections": {"port", "daemon"},  # _total: a counter
    "mbtop_port_accept_queue": {"port", "daemon"},
    "mbtop_port_accept_queue_limit": {"port", "daemon"},
    "mbtop_socket_ok": {"path", "daemon"},
    "mbtop_finding": {"code", "target", "severity"},
    "mbtop_findings": {"severity"},
    "mbtop_service_up": {"daemon"},
    "mbtop_firewall_verdict": {"port", "verdict"},
    "mbtop_flood_alert": set(),
    "mbtop_flood_new_connections_per_second": set(),
    "mbtop_log_events": {"log", "kind"},
    "mbtop_sample_age_seconds": set(),
    "mbtop_scrape_duration_seconds": set(),
    "mbtop_info": {"version"},
}


def frames_of(samples: list) -> list[Frame]:
    engine = Engine(CATALOG, Replay(list(samples)), interval=0.01, follow_logs=False)
    frames: list[Frame] = []
    engine.subscribe(frames.append)
    engine.start()
    try:
        deadline = time.monotonic() + 10
        while len(frames) < len(samples) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        engine.stop()
    return frames[: len(samples)]


def scrape(collector: FrameCollector) -> tuple[str, dict[str, list]]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    text = generate_latest(reg).decode()
    return text, {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(families: dict[str, list], name: str, **labels: str) -> float:
    found = [s.value for fam in families.values() for s in fam if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return float(found[0])


# --- listen addresses and the config --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("9999", ("127.0.0.1", 9999)),
        (":9999", ("127.0.0.1", 9999)),
        ("localhost:9999", ("127.0.0.1", 9999)),
        ("0.0.0.0:9999", ("0.0.0.0", 9999)),
        ("[::1]:9999", ("::1", 9999)),
    ],
)
def test_listen_addresses(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["", "host.example:9999", "::1:9999", "127.0.0.1:0", "127.0.0.1:70000", "1.2.3.4"])
def test_listen_addresses_refused(text: str) -> None:
    with pytest.raises(ListenError):
        parse_listen(text)


def test_a_non_loopback_listen_address_only_when_asked() -> None:
    with pytest.raises(ConfigError, match="not a loopback address"):
        from_data({"agent": {"listen": "0.0.0.0:10125"}}, "t.toml")
    with pytest.raises(ConfigError, match="not a loopback address"):
        from_data({"agent": {"listen": "[::]:10125"}}, "t.toml")
    cfg = from_data({"agent": {"listen": "0.0.0.0:10125", "listen_remote": True}}, "t.toml")
    assert cfg.agent.listen == ("0.0.0.0", 10125)
    assert from_data({"agent": {"listen": "127.0.0.2:1"}}, "t.toml").agent.listen == ("127.0.0.2", 1)
    assert from_data({}, None).agent.listen is None  # off unless asked
    with pytest.raises(ConfigError, match="web_config"):
        from_data({"agent": {"web_config": "relative.yml"}}, "t.toml")
    assert DEFAULT_PORT not in {p.port for p in CATALOG.ports}


# --- the web-config file --------------------------------------------------------------------------


def test_web_config_reads_the_exporter_toolkit_format(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    text = f"tls_server_config:\n  cert_file: m.crt\n  key_file: /k/m.key\nbasic_auth_users:\n  prom: '{hashed}'\n"
    cfg = webconfig.parse(text, tmp_path / "web.yml")
    assert (cfg.cert_file, cfg.key_file, cfg.tls) == (tmp_path / "m.crt", Path("/k/m.key"), True)
    auth = webconfig.BasicAuth(cfg.users)
    assert auth.required and auth.check("prom", "s3cret") and auth.check("prom", "s3cret")  # the second: cached
    assert not auth.check("prom", "wrong") and not auth.check("other", "s3cret") and not auth.check("", "")
    assert not webconfig.BasicAuth({}).required


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("http_server_config:\n  http2: false\n", "not supported by mbtop: http_server_config"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n", "client_ca_file"),
        ("tls_server_config:\n  cert_file: a\n", "both be given"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", "TLS12 or TLS13"),
        ("basic_auth_users:\n  prom: plaintext\n", "bcrypt hash"),
        ("- a\n", "must be a mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_web_config_refuses_what_it_does_not_do(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(why)):
        webconfig.parse(text, tmp_path / "web.yml")


def test_web_config_is_trusted_like_the_config(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users: {}\n")
    path.chmod(0o664)
    with pytest.raises(ConfigError, match="writable by group or others"):
        webconfig.load(path, euid=0)
    path.chmod(0o644)
    if os.geteuid() == 0:
        os.chown(path, 1, 1)
        with pytest.raises(ConfigError, match="not root"):
            webconfig.load(path, euid=0)
        os.chown(path, 0, 0)
    assert webconfig.load(path, euid=0).users == {}
    link = tmp_path / "link.yml"
    link.symlink_to(path)
    with pytest.raises(ConfigError):
        webconfig.load(link, euid=0)


# --- the collector ---------------------------------------------------------------------------------


def test_no_frame_yet_is_a_clear_nan_not_an_error() -> None:
    _text, fams = scrape(FrameCollector())
    assert math.isnan(value(fams, "mbtop_sample_age_seconds"))
    assert "mbtop_port_listening" not in fams
    assert value(fams, "mbtop_info", version=fams["mbtop_info"][0].labels["version"]) == 1


def test_names_and_labels_are_the_public_interface_and_carry_no_remote_address() -> None:
    frames = frames_of(SAMPLES)
    collector = FrameCollector()
    for frame in frames:
        collector(frame)
    text, fams = scrape(collector)
    for name, labels in REQUIRED.items():
        assert name in fams, name
        got = {k for s in fams[name] for k in s.labels}
        assert got == labels, (name, got)
    remotes = {s.remote_address for f in frames for s in f.sample.tcp.sockets if s.state != "LISTEN"}
    assert remotes and not [r for r in remotes if f'"{r}"' in text]
    # "daemon", never "service": the label clashes with common target labels.
    assert 'service="' not in text


def test_each_family_says_what_the_frame_says() -> None:
    frame = frames_of(SAMPLES)[-1]
    collector = FrameCollector(clock=lambda: frame.time + 2.5)
    collector(frame)
    _, fams = scrape(collector)
    snap = frame.snapshot
    assert value(fams, "mbtop_sample_age_seconds") == 2.5
    for p in snap.ports:
        port, daemon = str(p.spec.port), p.spec.service
        assert value(fams, "mbtop_port_listening", port=port, daemon=daemon) == (1 if p.listening else 0)
        for state, n in p.by_state:
            assert value(fams, "mbtop_port_connections", port=port, daemon=daemon, state=state) == n
        assert value(fams, "mbtop_port_connections", port=port, daemon=daemon, state="CLOSING") == dict(p.by_state).get(
            "CLOSING", 0
        )
        assert value(fams, "mbtop_port_accept_queue", port=port, daemon=daemon) == p.accept_queue
    for f in snap.findings:
        target = (
            f"port:{f.port}"
            if f.port
            else next((f"socket:{s.spec.id}" for s in snap.sockets if s.spec.path == f.path), f.path or "host")
        )
        assert value(fams, "mbtop_finding", code=f.code, target=target, severity=f.severity) == 1
    assert sum(s.value for s in fams["mbtop_finding"]) == len(
        {(f.code, f.port, f.path, f.severity) for f in snap.findings}
    )
    for sev in ("critical", "warning"):
        assert value(fams, "mbtop_findings", severity=sev) == snap.count(sev)
    for s in snap.sockets:
        ok = s.accepting and not [f for f in s.findings if f.code in ("socket-owner", "socket-mode", "not-a-socket")]
        assert value(fams, "mbtop_socket_ok", path=s.spec.path, daemon=s.spec.service) == (1 if ok else 0)
    assert frame.flood is not None
    assert value(fams, "mbtop_flood_alert") == frame.flood.alert


def test_new_connections_count_every_connection_first_seen() -> None:
    """The counter is rebuilt from the tracker's rates: it must equal the connections each sample
    holds that the one before did not (computed here from the samples themselves)."""
    frames = frames_of(SAMPLES)
    collector = FrameCollector()
    for frame in frames:
        collector(frame)
        collector(dataclasses.replace(frame, error="again"))  # a repeated frame (a failed sample) adds nothing
    _, fams = scrape(collector)
    ports = {p.port for p in CATALOG.ports}

    def keys(sample: object, port: int) -> set[tuple[str, int, str, int]]:
        return {
            (s.local_address, s.local_port, s.remote_address, s.remote_port)
            for s in sample.tcp.sockets  # type: ignore[attr-defined]
            if s.state != "LISTEN" and s.local_port == port
        }

    seen_new = 0
    for port in ports:
        want = sum(len(keys(b, port) - keys(a, port)) for a, b in itertools.pairwise(SAMPLES))
        daemon = next(p.service for p in CATALOG.ports if p.port == port)
        assert value(fams, "mbtop_port_new_connections_total", port=str(port), daemon=daemon) == want
        seen_new += want
    assert seen_new > 0  # the fixture does bring new connections: the test can fail


def test_log_events_are_counted_by_kind_and_status_class_never_own_nor_backfill() -> None:
    """Hand-built events (a fake by design) on a real frame."""
    frame = frames_of(SAMPLES[:1])[0]

    def mail(kind: str, own: bool = False) -> MailEvent:
        return MailEvent(1, kind, None, None, "postfix/smtpd", 1, None, None, None, None, "x", own=own)

    def web(kind: str, status: int | None) -> WebEvent:
        return WebEvent(1, kind, None, None, "GET", "/", None, status, 0, None, None, "x")

    live = LogLines(
        mail=(mail("connect"), mail("connect"), mail("reject"), mail("connect", own=True), mail("made-up")),
        web=(web("access", 200), web("access", 404), web("access", 503), web("error", None), web("access", 999)),
    )
    collector = FrameCollector()
    collector(dataclasses.replace(frame, logs=live))
    collector(dataclasses.replace(frame, logs=dataclasses.replace(live, backfill=True)))  # the log's past
    _, fams = scrape(collector)
    got = {(s.labels["log"], s.labels["kind"]): s.value for s in fams["mbtop_log_events"] if s.name.endswith("_total")}
    assert got[("mail", "connect")] == 2 and got[("mail", "reject")] == 1 and got[("mail", "other")] == 1
    assert got[("nginx", "2xx")] == 1 and got[("nginx", "4xx")] == 1 and got[("nginx", "5xx")] == 1
    assert got[("nginx", "error")] == 1 and got[("nginx", "other")] == 1
    assert {k for w, k in got if w == "mail"} == set(MAIL_KINDS)  # every kind has its series from the start


def test_the_openmetrics_form_prometheus_asks_for_is_valid_too() -> None:
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    collector = FrameCollector()
    for frame in frames_of(SAMPLES):
        collector(frame)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    fams = {f.name: f for f in parse_openmetrics(openmetrics(reg).decode())}
    assert fams["mbtop"].type == "info" and fams["mbtop_port_new_connections"].type == "counter"
    assert {s.labels["state"] for s in fams["mbtop_port_connections"].samples} >= {"ESTABLISHED", "TIME_WAIT"}
