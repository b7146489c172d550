"""The installed `mbtop` (the live screen) in tmux, against the real stack."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.support import stack as st
from tests.support.netns import Holder
from tests.support.tmux import Tmux, mbtop_bin

HOSTILE_NAME = "[bold red]x[/]"
HOSTILE_ARG = "\x1b]0;pwned\x07[link=http://evil]click[/link]\x1b[2J"


@pytest.fixture(autouse=True)
def _stack() -> None:
    st.require_stack()


@pytest.mark.parametrize(
    ("width", "height", "term"),
    [
        (80, 24, "xterm-256color"),
        (80, 24, "linux"),
        (200, 50, "xterm-256color"),
        (200, 50, "linux"),
        (80, 24, "screen"),
        (120, 40, "tmux-256color"),
    ],
)
def test_overview_lists_every_documented_port(width: int, height: int, term: str) -> None:
    snap = st.wait_healthy()
    with Tmux([mbtop_bin()], width, height, term) as t:
        screen = t.wait_for(re.compile(r"redis\.sock"), timeout=20)
        for p in snap["ports"]:
            assert re.search(rf"(?m)^\s*(OK|WARN|CRIT|UNKN)\s+{p['port']} ", screen), (p["port"], screen)
        for s in snap["sockets"]:
            assert f"{s['id']}.sock" in screen
        assert "CRIT" not in screen
        # Joined (-J): a line drawn past the pane's width would be one long line, not two wrapped.
        lines = t.screen(joined=True).splitlines()
        assert len(lines) <= height and all(len(line) <= width for line in lines), [len(x) for x in lines]
        assert max(len(line.rstrip()) for line in lines) > width - 10  # the app uses the whole width
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)


def test_squatter_shows_on_its_row_within_two_refreshes() -> None:
    st.wait_healthy()
    with Tmux([mbtop_bin(), "--interval", "1"], 120, 30) as t:
        t.wait_for("redis.sock", timeout=20)
        with st.squatter_on(6379, "redis-server") as squatter:
            # The clock starts when the squatter began to listen, not after the scenario's failed
            # start of Redis that follows it.
            screen = t.wait_for(re.compile(rf"6379 Redis .*held by squatter\[{squatter.pid}\]"), timeout=2 * 1 + 2)
            elapsed = time.monotonic() - squatter.listening_at
            assert elapsed <= 3.0, elapsed  # two 1 s refreshes plus the sample itself
            assert re.search(r"CRIT\s+6379 Redis", screen)
        t.wait_for(re.compile(r"OK\s+6379 Redis"), timeout=10)


def test_hostile_process_text_is_literal_and_no_escape_reaches_the_terminal(tmp_path: Path) -> None:
    raw = tmp_path / "raw.out"
    hostile = Holder([], {"name": HOSTILE_NAME, "listen": [["0.0.0.0", 465]]}, extra=[HOSTILE_ARG])
    with hostile, Tmux([mbtop_bin()], 160, 40) as t:
        t.pipe_to(str(raw))
        title_before = t.pane_title()
        screen = t.wait_for(re.compile(r"465 SMTPS"), timeout=20)
        assert HOSTILE_NAME in screen  # shown literally, not as bold red markup
        t.send("Down", "Down", "Down", "Down", "Enter")
        screen = t.wait_for("[link=http://evil]click[/link]", timeout=10)
        assert "Port 465 SMTPS" in screen
        assert t.pane_title() == title_before and "pwned" not in t.pane_title()
        t.send("Escape")  # alone: ESC followed at once by q would arrive as alt+q
        t.wait_for("1 Overview", timeout=10)
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)
    data = raw.read_bytes()
    assert b"[link=http://evil]click[/link]" in data
    assert b"pwned" not in data and b"\x1b]0;" not in data and b"\x1b[2J" not in data


def test_first_full_screen_about_a_second_and_no_color() -> None:
    start = time.monotonic()  # before the program is started, not after
    with Tmux([mbtop_bin()], 100, 30, env={"NO_COLOR": "1"}) as t:
        t.wait_for("redis.sock", timeout=20, poll=0.02)
        elapsed = time.monotonic() - start
        coloured = t.screen(colours=True)
        t.send("q")
    print(f"first full screen after {elapsed:.2f} s")
    assert elapsed < 3.0  # about a second here; generous for a loaded CI machine
    assert chromatic_colours(coloured) == set()  # NO_COLOR: greys only


GREYS_256 = {0, 7, 8, 15, 16, 231, *range(232, 256)}
BASIC_GREYS = {30, 37, 90, 97, 40, 47, 100, 107, 39, 49}


def chromatic_colours(screen: str) -> set[str]:
    """Every colour in the SGR sequences of a capture that is not a grey."""
    found: set[str] = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", screen):
        p = [int(x) if x else 0 for x in params.split(";")]
        i = 0
        while i < len(p):
            if p[i] in (38, 48) and i + 2 < len(p) and p[i + 1] == 5:
                if p[i + 2] not in GREYS_256:
                    found.add(f"{p[i]};5;{p[i + 2]}")
                i += 3
            elif p[i] in (38, 48) and i + 4 < len(p) and p[i + 1] == 2:
                if not p[i + 2] == p[i + 3] == p[i + 4]:
                    found.add(f"{p[i]};2;{p[i + 2]};{p[i + 3]};{p[i + 4]}")
                i += 5
            else:
                if (30 <= p[i] <= 49 or 90 <= p[i] <= 107) and p[i] not in BASIC_GREYS:
                    found.add(str(p[i]))
                i += 1
    return found


def test_logs_pane_shows_real_mail_and_hostile_lines_literally(tmp_path: Path) -> None:
    """The mail log is a file of the test's (via --config); Postfix's own log is followed in a second run."""
    log = tmp_path / "mail.log"
    log.write_text("")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[logs]\nmail = "{log}"\n')
    cfg.chmod(0o600)
    raw = tmp_path / "raw.out"
    with Tmux([mbtop_bin(), "--config", str(cfg)], 160, 40) as t:
        t.pipe_to(str(raw))
        t.wait_for("redis.sock", timeout=20)
        t.send("4")
        t.wait_for("mail/min", timeout=10)
        with open(log, "a") as fh:
            fh.write("Nov 25 19:40:02 mb postfix/smtpd[1]: connect from evil[203.0.113.66]\n")
            fh.write("Nov 25 19:40:02 mb postfix/smtpd[1]: warning: [bold red]x[/] \x1b]0;pwned\x07 gone\n")
        screen = t.wait_for("203.0.113.66", timeout=5)
        t.wait_for("[bold red]x[/]", timeout=5)
        assert "pwned" not in screen and "pwned" not in t.pane_title()
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)
    data = raw.read_bytes()
    assert b"[bold red]x[/]" in data and b"pwned" not in data and b"\x1b]0;" not in data


def test_real_mail_appears_in_the_logs_pane() -> None:
    import subprocess

    with Tmux([mbtop_bin()], 160, 40) as t:
        t.wait_for("redis.sock", timeout=20)
        t.send("4")
        t.wait_for("mail/min", timeout=10)
        rcpt = f"nobody-{uuid.uuid4().hex[:8]}@mailborder.test"  # unique: older rejects in the backfill don't count
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--from", "a@example.org", "--to", rcpt],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "550 5.1.1" in out.stdout
        t.wait_for(re.compile(rf"(?m)^ \S+\s+reject\s+127\.0\.0\.1 .*<{re.escape(rcpt)}>"), timeout=5)
        t.send("q")


def test_flood_screen_names_the_top_sources_with_the_tally() -> None:
    st.require_stack()
    sources = {"127.78.0.1": 15, "127.78.0.2": 9, "127.78.0.3": 4}
    sources.update({f"127.78.1.{i}": 1 for i in range(1, 51)})
    with Tmux([mbtop_bin()], 160, 40) as t:
        t.wait_for("redis.sock", timeout=20)
        with st.smtp_flood(sources):
            t.send("5")
            # A sample may land while the connections are still being made: wait for one taken after.
            wanted = [r"127\.78\.0\.1\s+15\s", r"127\.78\.0\.2\s+9\s", r"127\.78\.0\.3\s+4\s"]
            wanted.append(r"127\.78\.1\.0/24\s+50\s")
            t.wait_for(lambda s: all(re.search(w, s) for w in wanted), timeout=5)
        t.send("q")


def test_fix_a_socket_from_the_live_screen_with_preview_and_confirmation(tmp_path: Path) -> None:
    """F on the socket's row shows the plan with Cancel focused; Escape changes nothing; Run fixes it."""
    import json
    import os
    import shutil
    import stat
    import tempfile

    # The audit log where only root can write (never under /tmp: its log would be refused, and an
    # action whose start line cannot be written is refused with it).
    root_only = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))
    os.chmod(root_only, 0o700)
    log = root_only / "audit" / "actions.log"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'audit_log = "{log}"\n')
    path = "/var/run/mailborder/mb-rpcd.sock"
    try:
        with st.socket_perms(path, "root", 0o666), Tmux([mbtop_bin(), "--config", str(cfg)], 120, 34) as t:
            t.wait_for(re.compile(r"mb-rpcd\.sock.*0666"), timeout=20)
            t.send("2")
            t.wait_for(re.compile(r"Owner:group"), timeout=10)
            t.send("Down")  # php-fpm, then mb-rpcd
            t.send("F")
            screen = t.wait_for("Cancel", timeout=10)
            assert "set /var/run/mailborder/mb-rpcd.sock to mailborder:mailborder 0660" in screen
            assert "LocalSocketMode" not in screen and "mb-rpcd service's socket settings" in screen
            t.send("Enter")  # Cancel has the focus: nothing happens
            t.wait_for(lambda s: "Cancel" not in s, timeout=10)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 and not log.exists()
            t.send("F")
            t.wait_for("Cancel", timeout=10)
            t.send("Tab", "Enter")  # to Run
            t.wait_for(re.compile(r"now: /var/run/mailborder/mb-rpcd\.sock: OK"), timeout=15)
            s = os.stat(path)
            assert stat.S_IMODE(s.st_mode) == 0o660
            started, line = [json.loads(x) for x in log.read_text().splitlines()]
            assert started["result"] == "started" and started["id"] == line["id"]
            assert line["action"] == "fix-perms" and line["result"] == "done"
            t.send("q")
            t.wait_for(lambda _s: t.pane_dead(), timeout=10)
    finally:
        shutil.rmtree(root_only, ignore_errors=True)


def test_low_bandwidth_redraws_rarely_but_shows_a_new_problem_at_once(tmp_path: Path) -> None:
    """--low-bandwidth: a frame every 5 s at most, except when something goes wrong."""
    raw = tmp_path / "raw.out"
    st.wait_healthy()
    with Tmux([mbtop_bin(), "--low-bandwidth", "--interval", "1"], 80, 24, env={"COLORTERM": "truecolor"}) as t:
        t.wait_for("redis.sock", timeout=20)
        time.sleep(2)
        t.pipe_to(str(raw))
        time.sleep(10)
        quiet = raw.stat().st_size / 10
        # The header's clock is the sample's time: at most one frame per 5 s reached the terminal
        # (the default draws it every second).
        frames = set(re.findall(rb"\d\d:\d\d:\d\d", raw.read_bytes()))
        assert 1 <= len(frames) <= 3, frames
        # The new problem: a foreign process on 465 (unexpected-owner). The clock starts before the
        # process does, so it can only over-measure.
        start = time.monotonic()
        with Holder([], {"name": "squatter", "listen": [["127.0.0.1", 465]]}):
            t.wait_for(re.compile(r"CRIT\s+465 SMTPS"), timeout=8, poll=0.02)
            took = time.monotonic() - start
        print(f"\nlow bandwidth: {quiet / 1024:.2f} KiB/s while quiet; a squatter shown after {took:.1f} s")
        assert quiet < 1024, quiet  # ≤ 1 KiB/s
        assert took < 4.5, took  # an alert does not wait for the 5 s frame
        data = raw.read_bytes()
        assert b"38;2;" not in data  # 16 colours, even on a truecolor terminal
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)


def test_a_real_flood_raises_the_smtp_flood_finding(tmp_path: Path) -> None:
    """30 SMTP connections held from 10 loopback sources, over a threshold of 20 open at once: the
    live screen lists smtp-flood among its findings (not only FLOOD in the header), and drops it
    once the flood is gone."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[flood]\nconcurrent = 20\n")
    cfg.chmod(0o600)
    finding = re.compile(r"smtp-flood\s+SMTP flood on 25/587")
    with Tmux([mbtop_bin(), "--config", str(cfg), "--interval", "1"], 160, 48) as t:
        t.wait_for("redis.sock", timeout=20)
        t.send("3")
        t.wait_for("3 Findings", timeout=10)
        assert not finding.search(t.screen())
        with st.smtp_flood({f"127.79.0.{i}": 3 for i in range(1, 11)}):
            screen = t.wait_for(finding, timeout=8)
            assert "FLOOD" in screen
        t.wait_for(lambda s: not finding.search(s), timeout=15)
        t.send("q")
        t.wait_for(lambda _s: t.pane_dead(), timeout=10)


def test_K_frees_a_squatted_port_from_the_live_screen() -> None:
    """K on the squatted row: the plan names the squatter, Cancel has the focus; Run stops it,
    starts Redis and says the port is back (the real stack, the real processes)."""
    import shutil
    import tempfile

    audit_dir = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))  # root's alone, not /tmp
    os.chmod(audit_dir, 0o700)
    cfg = audit_dir / "c.toml"
    cfg.write_text(f'audit_log = "{audit_dir}/actions.log"\n')
    cfg.chmod(0o600)
    try:
        with st.squatter_on(6379, "redis-server") as squatter, Tmux([mbtop_bin(), "--config", str(cfg)], 140, 40) as t:
            t.wait_for(re.compile(rf"6379 Redis .*held by squatter\[{squatter.pid}\]"), timeout=20)
            t.send(*["Down"] * 11)  # 25 80 443 587 465 10031 10032 11332 11333 3310 3306, then 6379
            t.send("K")
            screen = t.wait_for("Cancel", timeout=10)
            assert f"SIGTERM to squatter (pid {squatter.pid})" in screen, screen
            assert squatter.proc.poll() is None
            t.send("Tab", "Enter")  # to Run
            t.wait_for(re.compile(r"now: port 6379: OK"), timeout=30)
            assert squatter.proc.wait(5) is not None  # the squatter is gone
            assert (
                "redis-server"
                in subprocess.run(["ss", "-Htlnp", "sport = :6379"], capture_output=True, text=True).stdout
            )
            t.send("q")
            t.wait_for(lambda _s: t.pane_dead(), timeout=10)
    finally:
        shutil.rmtree(audit_dir, ignore_errors=True)
