"""The shipped Grafana dashboard: valid JSON, the datasource a variable (never a uid of someone's
Grafana), a gateway variable, the fleet, per-port and flood panels, and every PromQL expression in
it parses (promtool, as recording rules) and names only mbtop's public metrics (and ``up``).

Each check is a function run on the shipped file and on broken copies of it, which it must refuse.
promtool is Debian's ``prometheus`` package (``scripts/stack install``). The scrape config example is
checked here too (``promtool check config``)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.require import require

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "mbtop" / "share" / "grafana" / "mbtop-dashboard.json"
SCRAPE = REPO / "mbtop" / "share" / "prometheus" / "prometheus-example.yml"
RULES = REPO / "mbtop" / "share" / "prometheus" / "mbtop-alerts.yml"
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# The public metric names (issue 20; README, Metrics): counters as exposed, with `_total`.
METRICS = {
    "mbtop_port_listening", "mbtop_port_connections", "mbtop_port_new_connections_total", "mbtop_port_accept_queue",
    "mbtop_socket_ok", "mbtop_finding", "mbtop_findings", "mbtop_health_up", "mbtop_health_duration_seconds",
    "mbtop_certificate_expiry_timestamp_seconds", "mbtop_service_up", "mbtop_firewall_verdict", "mbtop_flood_alert",
    "mbtop_flood_new_connections_per_second", "mbtop_log_events_total", "mbtop_sample_age_seconds",
    "mbtop_scrape_duration_seconds", "mbtop_cluster_peer_up", "up",
}  # fmt: skip
# Grafana's variables, as a query is sent: a regex where the dashboard uses =~, a range in rate().
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$instance": ".*", "$port": ".*"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}


def _promtool() -> str:
    path = shutil.which("promtool")
    require(path is not None, "promtool is not installed (Debian's prometheus package: sudo scripts/stack install)")
    assert path is not None
    return path


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def expressions(dash: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panels' targets and the query variables."""
    out = [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*), *\w+\)", v["definition"])
            assert m, v["definition"]
            out.append(m.group(1))
    return out


def metric_names(expr: str) -> set[str]:
    """The series an expression selects: names before a ``{`` or standing alone, not functions,
    keywords, label names or quoted text."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
        following = bare[m.end() :].lstrip()
        if following.startswith("(") or m.group() in PROMQL_WORDS:
            continue
        names.add(m.group())
    return names


def check_datasources(dash: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query" and variables["instance"]["datasource"] == DS
    assert variables["instance"]["multi"] and variables["instance"]["includeAll"]
    for p in _panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"] == DS, p["title"]
        assert p["targets"], p["title"]
        assert all(t["datasource"] == DS for t in p["targets"]), p["title"]
        assert all('instance=~"$instance"' in t["expr"] for t in p["targets"]), p["title"]


def check_metrics(dash: dict[str, Any]) -> None:
    for expr in expressions(dash):
        unknown = metric_names(expr) - METRICS
        assert not unknown, f"{expr}: not a metric mbtop exports: {sorted(unknown)}"


def check_promql(dash: dict[str, Any], tmp: Path) -> None:
    """Each expression as a recording rule, with Grafana's variables as they are sent: promtool parses them."""
    rules = []
    for i, expr in enumerate(expressions(dash)):
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        assert "$" not in expr, f"a variable promtool cannot stand in for: {expr}"
        rules.append({"record": f"dashboard:expr_{i}", "expr": expr})
    path = tmp / "dashboard-rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    done = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def _load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # valid JSON, or this fails


def test_the_dashboard_has_the_fleet_port_and_flood_rows() -> None:
    dash = _load()
    assert dash["uid"] and dash["title"] and "__inputs" not in dash
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == ["Fleet", "Ports", "Flood"]
    titles = {p["title"] for p in _panels(dash)}
    assert {"Gateways", "Cluster peers", "Listening", "Connections by state", "Flood alert"} <= titles
    assert len({p["id"] for p in _panels(dash)}) == len(list(_panels(dash)))  # ids unique


def test_the_datasource_is_a_variable_and_every_panel_follows_the_gateway_choice() -> None:
    check_datasources(_load())


def test_every_expression_uses_only_mbtops_metrics() -> None:
    dash = _load()
    check_metrics(dash)
    used = set().union(*(metric_names(e) for e in expressions(dash)))
    assert {"mbtop_cluster_peer_up", "mbtop_flood_alert", "mbtop_port_listening", "up"} <= used


def test_every_expression_parses(tmp_path: Path) -> None:
    check_promql(_load(), tmp_path)


def _broken(change: str) -> dict[str, Any]:
    dash = copy.deepcopy(_load())
    panel = next(p for p in _panels(dash) if p["title"] == "Connections by state")
    target = panel["targets"][0]
    if change == "typo":
        target["expr"] = target["expr"].replace("mbtop_port_connections", "mbtop_port_conections")
    elif change == "syntax":
        target["expr"] = target["expr"].replace("sum by (instance, port, state) (", "sum by (instance, port, state) ((")
    elif change == "datasource":
        target["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
    elif change == "instance":
        target["expr"] = target["expr"].replace('instance=~"$instance", ', "")
    return dash


@pytest.mark.parametrize(
    ("change", "check"),
    [("typo", "metrics"), ("syntax", "promql"), ("datasource", "datasources"), ("instance", "datasources")],
)
def test_the_checks_refuse_a_broken_dashboard(tmp_path: Path, change: str, check: str) -> None:
    dash = _broken(change)
    with pytest.raises(AssertionError):
        if check == "metrics":
            check_metrics(dash)
        elif check == "promql":
            check_promql(dash, tmp_path)
        else:
            check_datasources(dash)


def test_metric_names_are_found_where_they_hide() -> None:
    assert metric_names('sum by (instance) (rate(mbtop_log_events_total{log="mail", kind="up"}[5m]))') == {
        "mbtop_log_events_total"
    }
    assert metric_names("min by (instance) (x_seconds - time()) / 86400") == {"x_seconds"}
    assert metric_names("up == 0 unless on (instance) foo:bar") == {"up", "foo:bar"}


def test_the_scrape_config_example_is_valid(tmp_path: Path) -> None:
    text = SCRAPE.read_text()
    assert "/usr/local/share/mbtop/prometheus/mbtop-alerts.yml" in text and "job_name: mbtop" in text
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/usr/local/share/mbtop/prometheus/mbtop-alerts.yml", str(RULES))
    )
    done = subprocess.run(
        [_promtool(), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout
