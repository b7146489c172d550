"""The fleet's model from real inputs: text written by prometheus_client, answers of the real Prometheus.

Fixtures: tests/fixtures/fleet/, recorded by scripts/record-fleet-fixtures.py (Prometheus 2.42 from
Debian scraping the three gateways of tests/support/fleetlab.py and three broken targets).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbtop.fleet import model, prometheus
from mbtop.fleet.scrape import parse
from tests.support.fleetlab import NOW

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "fleet"


def samples(state: str) -> tuple[model.Series, ...]:
    return parse((FIX / f"{state}.prom").read_text())


def gateway(state: str) -> model.Gateway:
    s = samples(state)
    return model.Gateway(state, "up", "", model.summarize(s, NOW), model.detail(s), NOW)


def test_healthy_exposition_is_ok() -> None:
    gw = gateway("healthy")
    assert gw.summary == model.Summary(0, 0, 0, 0, False, 0.2, NOW + 60 * 86400, 0, 2, NOW - 0.4)
    assert gw.status(NOW) == ("ok", "")
    assert gw.cert_days(NOW) == pytest.approx(60)
    assert gw.age(NOW + 2) == pytest.approx(2.4)


def test_port_down_exposition() -> None:
    gw = gateway("port-down")
    s = gw.summary
    assert s is not None
    assert (s.critical, s.warning, s.ports_down, s.sockets_wrong, s.flood, s.peers_down, s.peers) == (
        2,
        1,
        1,
        0,
        False,
        1,
        2,
    )
    assert gw.status(NOW) == ("critical", "2 critical, 1 warning, 1 port down, 1 peer unreachable")
    d = gw.details
    assert d is not None
    assert [(f.severity, f.code, f.target) for f in d.findings] == [
        ("critical", "health-failed", "port:25"),
        ("critical", "not-listening", "port:25"),
        ("warning", "cluster-peer-down", "host"),
    ]
    port25 = d.ports[0]
    assert (port25.port, port25.daemon, port25.listening) == ("25", "postfix", False)
    assert [p.port for p in d.ports] == ["25", "80", "443", "587", "10050"]  # numeric order
    assert d.peers == (("gw2.example", True), ("gw3.example", False))


def test_flood_exposition() -> None:
    gw = gateway("flood")
    s = gw.summary
    assert s is not None and s.flood is True and s.flood_rate == 87.5
    assert gw.cert_days(NOW) == pytest.approx(9)
    assert gw.status(NOW) == ("critical", "1 critical, 1 warning, SMTP flood, certificate expires in 9 d")
    assert gw.details is not None
    assert dict(gw.details.ports[0].connections) == {"ESTABLISHED": 95.0, "TIME_WAIT": 1.0}


def test_old_data_and_unreachable_status() -> None:
    gw = gateway("healthy")
    assert gw.status(NOW + 120) == ("warning", "data 120 s old")
    down = model.Gateway("gw", "down", "connection refused", None, None, NOW)
    assert down.status(NOW) == ("unknown", "connection refused")


def test_counts_from_findings_when_no_totals() -> None:
    """An agent that exports the findings but not ``mbtop_findings``: they are counted one by one."""
    s = tuple(x for x in samples("port-down") if x.name != "mbtop_findings")
    summary = model.summarize(s, NOW)
    assert (summary.critical, summary.warning) == (2, 1)


def test_not_an_agent() -> None:
    assert not model.is_agent(parse("node_load1 0.5\n"))
    assert model.is_agent(samples("healthy"))


def _fixture(name: str) -> str:
    return (FIX / name).read_text()


def test_prometheus_fleet_answer() -> None:
    """The real answer to the one fleet query: a row per instance of the job, with the same numbers
    as a direct scrape of the same gateway."""
    answer = prometheus.vector(_fixture("fleet-query.json"))
    errors = prometheus.target_errors(_fixture("targets.json"))
    rows = {g.name: g for g in prometheus.gateways(answer, errors, 0.0)}
    assert list(rows) == [f"127.0.10.{i}:9955" for i in range(1, 7)]
    healthy, down, flood = (rows[f"127.0.10.{i}:9955"] for i in (1, 2, 3))
    evaluated = json.loads(_fixture("fleet-query.json"))["data"]["result"][0]["value"][0]
    for gw, state in ((healthy, "healthy"), (down, "port-down"), (flood, "flood")):
        direct = gateway(state).summary
        assert gw.reach == "up" and gw.summary is not None and direct is not None
        same = ("critical", "warning", "ports_down", "sockets_wrong", "flood", "flood_rate", "peers_down", "peers")
        assert {k: getattr(gw.summary, k) for k in same} == {k: getattr(direct, k) for k in same}, state
        assert gw.summary.sampled_at is not None and 0 < evaluated - gw.summary.sampled_at < 3
    assert flood.cert_days(evaluated) == pytest.approx(9, abs=0.01)
    assert healthy.cert_days(evaluated) == pytest.approx(60, abs=0.01)
    assert healthy.status(evaluated)[0] == "ok"
    assert down.status(evaluated)[0] == "critical"
    # Prometheus' own reasons for the three broken targets.
    assert (rows["127.0.10.4:9955"].reach, rows["127.0.10.4:9955"].reason) == (
        "down",
        "connection refused (seen by Prometheus)",
    )
    assert rows["127.0.10.5:9955"].reach == "slow"
    html = rows["127.0.10.6:9955"]
    assert html.reach == "garbage" and "not a valid start token" in html.reason


def test_prometheus_detail_answer() -> None:
    d = model.detail(prometheus.vector(_fixture("detail-port-down.json")))
    assert ("critical", "not-listening", "port:25") in [(f.severity, f.code, f.target) for f in d.findings]
    assert [(p.port, p.listening) for p in d.ports][:2] == [("25", False), ("80", True)]
    assert d.peers == (("gw2.example", True), ("gw3.example", False))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<html>hi</html>", "not JSON"),
        ('{"status":"error","errorType":"bad_data","error":"parse error at char 3"}', "parse error"),
        ('{"status":"success","data":{"resultType":"matrix","result":[]}}', "no vector"),
        ("[1, 2]", "not a Prometheus API answer"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_prometheus_answers_that_are_not(body: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        prometheus.vector(body)


def test_query_quotes_the_job() -> None:
    q = prometheus.fleet_query('a"b\\c}')
    assert 'job="a\\"b\\\\c}"' in q and q.count("label_replace(") == len(prometheus.parts("x"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_says_why(text: str) -> None:
    """Whatever a target answers, the parser returns samples or raises ValueError: never anything else."""
    try:
        got = parse(text)
    except ValueError:
        return
    model.summarize(got, NOW)
    model.detail(got)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_is_a_vector_or_says_why(doc: object) -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": doc}})
    try:
        got = prometheus.vector(body)
    except ValueError:
        return
    prometheus.gateways(got, prometheus.target_errors(body), NOW)
