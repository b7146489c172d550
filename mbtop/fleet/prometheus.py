"""``mbtop fleet --prometheus URL``: the fleet's rows from PromQL over Prometheus' HTTP API.

One instant query per refresh, whatever the fleet's size: Prometheus aggregates every gateway's
numbers (``count by (instance)`` …) and the parts come back in one vector, each tagged with a
``mbtop_q`` label. The gateway is the ``instance`` label of the agents' job. A gateway whose scrape
fails (``up == 0``) gets Prometheus' own reason from ``/api/v1/targets``. Details (enter) are one
more query, for that instance only.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from mbtop.fleet.http import Kind, Unreachable, get
from mbtop.fleet.model import MAX_SERIES, Details, Fleet, Gateway, Series, Summary, detail, series

ACCEPT = "application/json"
QUERY_LABEL = "mbtop_q"
DETAIL_METRICS = "mbtop_(finding|port_listening|port_connections|socket_ok|cluster_peer_up)"


def quote(value: str) -> str:
    """A PromQL string literal (double-quoted; backslash, quote and controls escaped)."""
    return json.dumps(value)


def parts(job: str) -> dict[str, str]:
    """The PromQL of each number of a row, by its tag."""
    j = f"job={quote(job)}"
    return {
        "up": f"up{{{j}}}",
        "findings": f"sum by (instance, severity) (mbtop_findings{{{j}}})",
        "finding": f"count by (instance, severity) (mbtop_finding{{{j}}} == 1)",
        "ports_down": f"count by (instance) (mbtop_port_listening{{{j}}} == 0)",
        "sockets_wrong": f"count by (instance) (mbtop_socket_ok{{{j}}} == 0)",
        "flood": f"max by (instance) (mbtop_flood_alert{{{j}}})",
        "rate": f"max by (instance) (mbtop_flood_new_connections_per_second{{{j}}})",
        "cert": f"min by (instance) (mbtop_certificate_expiry_timestamp_seconds{{{j}}} > 0)",
        "peers": f"count by (instance) (mbtop_cluster_peer_up{{{j}}})",
        "peers_down": f"count by (instance) (mbtop_cluster_peer_up{{{j}}} != 1)",
        "sampled": f"max by (instance) (timestamp(mbtop_sample_age_seconds{{{j}}}) - mbtop_sample_age_seconds{{{j}}})",
    }


def fleet_query(job: str) -> str:
    """Every part in one query: each tagged with its name in ``mbtop_q``, joined with ``or``."""
    return " or ".join(f'label_replace({expr}, "{QUERY_LABEL}", "{tag}", "", "")' for tag, expr in parts(job).items())


def vector(body: str) -> tuple[Series, ...]:
    """The samples of an instant query's JSON answer; ``ValueError`` when it is not one."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeError, RecursionError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a Prometheus API answer")
    if doc.get("status") != "success":
        raise ValueError(f"query failed: {str(doc.get('error', doc.get('status')))[:200]}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" or not isinstance(data.get("result"), list):
        raise ValueError("not a Prometheus API answer (no vector)")
    out: list[Series] = []
    for item in data["result"][: MAX_SERIES * 4]:
        if not isinstance(item, dict):
            continue
        metric, value = item.get("metric"), item.get("value")
        if not isinstance(metric, dict) or not isinstance(value, list) or len(value) != 2:
            continue
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            continue
        labels = {str(k): str(v) for k, v in metric.items()}
        out.append(series(labels.pop("__name__", ""), labels, number))
    return tuple(out)


@dataclass
class _Row:
    up: bool = False
    counted: dict[str, float] = field(default_factory=dict)
    findings: dict[str, float] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)


def _rows(samples: tuple[Series, ...]) -> dict[str, _Row]:
    rows: dict[str, _Row] = {}
    for s in samples:
        instance, tag = s.label("instance"), s.label(QUERY_LABEL)
        if not instance or not tag:
            continue
        row = rows.setdefault(instance, _Row())
        if tag == "up":
            row.up = s.value == 1
        elif tag == "findings":
            row.counted[s.label("severity")] = row.counted.get(s.label("severity"), 0.0) + s.value
        elif tag == "finding":
            row.findings[s.label("severity")] = row.findings.get(s.label("severity"), 0.0) + s.value
        elif not math.isnan(s.value):
            row.numbers[tag] = s.value
    return rows


def _summary(row: _Row) -> Summary:
    counts = row.counted or row.findings
    n = row.numbers
    flood = n.get("flood")
    return Summary(
        critical=int(counts.get("critical", 0)),
        warning=int(counts.get("warning", 0)),
        ports_down=int(n.get("ports_down", 0)),
        sockets_wrong=int(n.get("sockets_wrong", 0)),
        flood=None if flood is None else flood >= 1,
        flood_rate=n.get("rate"),
        cert_expiry=n.get("cert"),
        peers_down=int(n.get("peers_down", 0)),
        peers=int(n.get("peers", 0)),
        sampled_at=n.get("sampled"),
    )


def scrape_error(last_error: str, health: str) -> tuple[Kind, str]:
    """Prometheus' words for a failed scrape, as a reachability and a short reason."""
    low = last_error.lower()
    if "connection refused" in low:
        return "down", "connection refused (seen by Prometheus)"
    if "deadline exceeded" in low or "timeout" in low:
        return "slow", "scrape timed out (seen by Prometheus)"
    if "no such host" in low:
        return "down", "unknown host (seen by Prometheus)"
    if not last_error:
        return "down", "not scraped yet" if health == "unknown" else "scrape failed (seen by Prometheus)"
    return "garbage", f"scrape failed: {last_error[:160]}"


def target_errors(body: str) -> dict[str, tuple[str, str]]:
    """``/api/v1/targets``: each instance's (lastError, health); empty when the answer is not one."""
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeError, RecursionError):
        return {}
    data = doc.get("data") if isinstance(doc, dict) else None
    active = data.get("activeTargets") if isinstance(data, dict) else None
    out: dict[str, tuple[str, str]] = {}
    for t in active if isinstance(active, list) else []:
        labels = t.get("labels") if isinstance(t, dict) else None
        if isinstance(labels, dict) and isinstance(labels.get("instance"), str):
            out[labels["instance"]] = (str(t.get("lastError") or ""), str(t.get("health") or ""))
    return out


def gateways(samples: tuple[Series, ...], errors: dict[str, tuple[str, str]], fetched: float) -> tuple[Gateway, ...]:
    """One row per instance of the agents' job, in name order."""
    out: list[Gateway] = []
    for name, row in sorted(_rows(samples).items()):
        if row.up:
            out.append(Gateway(name, "up", "", _summary(row), None, fetched))
            continue
        reach, reason = scrape_error(*errors.get(name, ("", "")))
        out.append(Gateway(name, reach, reason, None, None, fetched))
    return tuple(out)


class PrometheusSource:
    def __init__(self, url: str, timeout: float, job: str = "mbtop", clock: Callable[[], float] = time.time) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.job = job
        self.clock = clock
        self.label = f"Prometheus {self.url}, job {job}"

    def _api(self, path: str, params: dict[str, str]) -> str:
        body, _ = get(f"{self.url}{path}?{urllib.parse.urlencode(params)}", self.timeout, ACCEPT)
        return body

    def query(self, promql: str) -> tuple[Series, ...]:
        body = self._api("/api/v1/query", {"query": promql, "timeout": f"{self.timeout:g}s"})
        try:
            return vector(body)
        except ValueError as exc:
            raise Unreachable("garbage", f"Prometheus at {self.url}: {exc}") from None

    def fetch(self) -> Fleet:
        try:
            samples = self.query(fleet_query(self.job))
            fetched = self.clock()
            errors: dict[str, tuple[str, str]] = {}
            if any(s.label(QUERY_LABEL) == "up" and s.value != 1 for s in samples):
                errors = target_errors(self._api("/api/v1/targets", {"state": "active"}))
        except Unreachable as exc:
            why = exc.reason if exc.reason.startswith("Prometheus") else f"Prometheus at {self.url}: {exc.reason}"
            return Fleet(self.label, (), why, self.clock())
        return Fleet(self.label, gateways(samples, errors, fetched), None, fetched)

    def details(self, name: str) -> Details | None:
        sel = f'{{__name__=~"{DETAIL_METRICS}", job={quote(self.job)}, instance={quote(name)}}}'
        try:
            return detail(self.query(sel))
        except Unreachable:
            return None
