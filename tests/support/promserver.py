"""The real Prometheus server (Debian package ``prometheus``) as a process on loopback.

A temporary config and storage directory, never the system service's; scrapes every second.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BINARY = "/usr/bin/prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as resp:  # noqa: S310
            return json.loads(resp.read())

    def query(self, promql: str) -> list[dict]:
        return self.api("/api/v1/query", query=promql)["data"]["result"]

    def wait_scraped(self, instances: Sequence[str], timeout: float = 30.0) -> None:
        """Until every instance has been scraped at least twice (its ``up`` and the series after it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.api("/api/v1/targets", state="active")["data"]["activeTargets"]
            seen = {t["labels"]["instance"]: t for t in targets if t.get("lastScrape", "").startswith("2")}
            if all(i in seen and seen[i]["health"] != "unknown" for i in instances):
                time.sleep(2.5)  # one more scrape interval, so that every series has a sample
                return
            time.sleep(0.25)
        log = self.log.read_text()[-2000:]
        raise AssertionError(f"Prometheus did not scrape {list(instances)} in {timeout} s: {log}")


def config(
    targets: Sequence[str], job: str = "mbtop", rules: Sequence[Path] = (), names: dict[str, str] | None = None
) -> str:
    """``names``: target → the instance label to give it (default: the target's address)."""
    lines = [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 900ms",
        "  evaluation_interval: 1s",
    ]
    if rules:
        lines.append("rule_files:")
        lines += [f"  - {json.dumps(str(r))}" for r in rules]
    lines += [
        "scrape_configs:",
        f"  - job_name: {json.dumps(job)}",
        "    static_configs:",
    ]
    for target in targets:
        lines.append(f"      - targets: [{json.dumps(target)}]")
        if names and target in names:
            lines.append(f"        labels: {{instance: {json.dumps(names[target])}}}")
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus(
    targets: Sequence[str], job: str = "mbtop", rules: Sequence[Path] = (), names: dict[str, str] | None = None
) -> Iterator[Prometheus]:
    tmp = Path(tempfile.mkdtemp(prefix="mbtop-prom-"))
    (tmp / "prometheus.yml").write_text(config(targets, job, rules, names))
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.console.templates=/etc/prometheus/consoles",
                "--web.console.libraries=/etc/prometheus/console_libraries",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"Prometheus did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
