"""`mbtop logs`: the public --events --json contract, summaries equal to the full parser's, hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mbtop.logs import fastsum, nginx
from mbtop.logs.follow import Follower
from mbtop.logs.postfix import PostfixParser
from mbtop.logs.summary import MailSummary, WebSummary

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
BENCH_GEN = Path(__file__).resolve().parents[2] / "bench" / "gen_logs.py"
MAIL_KEYS = {
    "line_no",
    "kind",
    "timestamp",
    "host",
    "program",
    "pid",
    "client_ip",
    "client_hostname",
    "client_port",
    "queue_id",
    "own",
}
WEB_KEYS = {
    "line_no",
    "kind",
    "timestamp",
    "client_ip",
    "method",
    "path",
    "status",
    "bytes",
    "referer",
    "user_agent",
    "own",
}


def mbtop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbtop", "logs", *args], capture_output=True, text=True, timeout=120)


def test_events_json_one_object_per_line_in_order() -> None:
    src = FIX / "postfix-events.log"
    out = mbtop(str(src), "--format", "postfix", "--events", "--json", "--year", "2026")
    assert out.returncode == 0, out.stderr
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(docs) == len(src.read_text().splitlines())
    assert [d["line_no"] for d in docs] == list(range(1, len(docs) + 1))
    assert all(set(d) >= MAIL_KEYS for d in docs)
    first = docs[0]
    assert first["kind"] == "postscreen" and first["timestamp"] == "2026-11-25T19:40:01" and first["pid"] == 100


def test_nginx_events_json_and_autodetect() -> None:
    out = mbtop(str(FIX / "nginx-access.log"), "--events", "--json")
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert all(set(d) >= WEB_KEYS for d in docs) and docs[0]["status"] == 200 and docs[0]["kind"] == "access"


def _slow_summary(path: Path, fmt: str) -> dict:
    s: MailSummary | WebSummary = WebSummary() if fmt == "nginx" else MailSummary()
    parse = nginx.parse if fmt == "nginx" else PostfixParser(2026).parse
    for batch in Follower(str(path)).read_all():
        for line in batch:
            s.add(parse(line.text, line.line_no))  # type: ignore[arg-type]
    return s.to_json()


@pytest.mark.parametrize("fmt", ["postfix", "nginx"])
def test_fast_summary_equals_the_full_parser(tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes-level summary and the event parser agree, on generated logs split across workers and on traps."""
    gen = tmp_path / "gen.log"
    subprocess.run(
        [sys.executable, str(BENCH_GEN), "mail" if fmt == "postfix" else "nginx", str(gen), "30000"], check=True
    )
    monkeypatch.setattr(fastsum, "MIN_PARALLEL", 0)  # exercise the split into per-core ranges
    for path in [gen, *(FIX.glob("postfix-*.log" if fmt == "postfix" else "nginx-*.log"))]:
        assert fastsum.summarize(str(path), fmt, 2026, workers=2).to_json() == _slow_summary(path, fmt), path


def test_summary_counts_match_the_fixture() -> None:
    doc = json.loads(mbtop(str(FIX / "postfix-events.log"), "--summary", "--json", "--format", "postfix").stdout)
    assert (doc["received"], doc["delivered"], doc["deferred"], doc["bounced"], doc["expired"]) == (2, 1, 1, 1, 1)
    assert doc["rejected"] == 4 and doc["sasl_failures"] == 1
    assert {r["reason"] for r in doc["rejected_by_reason"]} >= {"Relay access denied", "Spam message rejected"}
    assert doc["top_clients_by_connections"][0]["count"] == 1


def test_hostile_input_no_crash_nothing_interpreted(tmp_path: Path) -> None:
    bad = tmp_path / "mail.log"
    with open(bad, "wb") as fh:
        fh.write(bytes(b for b in range(256) if b != 10) * 40 + b"\n")  # binary garbage, one line
        fh.write(b"Nov 25 19:40:02 mb postfix/smtpd[1]: connect from x[1.2.3.4]" + b"A" * 1_000_000 + b"\n")
        fh.write(b"Nov 25 19:40:02 mb postfix/smtpd[1]: connect from \xff\xfe[198.51.100.1]\n")  # invalid UTF-8
        fh.write(b"Nov 25 19:40:02 mb postfix/smtpd[1]: warning: [bold red]x[/] \x1b]0;pwned\x07 \x1b[2J\x9b31m\n")
        fh.write(b"Nov 25 19:40:02 mb postfix/smtpd[1]: connect from evil[1.2.3.4]")  # no final newline
    events = mbtop(str(bad), "--format", "postfix", "--events", "--json")
    assert events.returncode == 0, events.stderr
    docs = [json.loads(x) for x in events.stdout.splitlines()]
    assert len(docs) == 5 and docs[1]["message"].endswith("…[line cut at 64 KiB]")
    assert docs[2]["client_ip"] == "198.51.100.1" and "\ufffd" in docs[2]["client_hostname"]
    assert docs[3]["message"].count("[bold red]x[/]") == 1 and docs[4]["client_ip"] == "1.2.3.4"
    for mode in (["--events"], ["--summary"]):
        out = subprocess.run(
            [sys.executable, "-m", "mbtop", "logs", str(bad), "--format", "postfix", *mode],
            capture_output=True,
            timeout=60,
        )
        assert out.returncode == 0
        assert b"\x1b" not in out.stdout and b"\x07" not in out.stdout and "\x9b".encode() not in out.stdout
    # JSON keeps outside text literal (escaped by the encoder): the sequences are data, not removed.
    assert "\x1b]0;pwned\x07 \x1b[2J\ufffd31m" in docs[3]["message"]  # a lone 0x9b byte is not UTF-8


def test_missing_and_unreadable_files_say_why(tmp_path: Path) -> None:
    out = mbtop(str(tmp_path / "nope.log"))
    assert out.returncode == 1 and "no such file" in out.stderr
    out = mbtop(str(tmp_path))
    assert out.returncode == 1 and "not a regular file" in out.stderr
