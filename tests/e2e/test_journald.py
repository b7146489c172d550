"""The mail pane follows Postfix in journald when /var/log/mail.log does not exist: the installed
mbtop in tmux, in a mount namespace with a journald of the test's own (tests/support/journal.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.journal import PrivateJournal
from tests.support.require import require
from tests.support.tmux import Tmux, mbtop_bin


def test_mail_pane_follows_journald_when_the_mail_log_is_missing(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "a private journald needs root (mount namespace)")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[logs]\nmail = "{tmp_path}/no-such-mail.log"\n')
    cfg.chmod(0o600)
    with PrivateJournal() as journal:
        journal.write("postfix/smtpd", "connect from before[192.0.2.10]")  # journald holds Postfix already
        journal.write("cron", "not mail, not Postfix", facility=9)
        argv = journal.argv(mbtop_bin(), "--config", str(cfg))
        with Tmux(argv, 160, 40) as t:
            t.wait_for("redis.sock", timeout=20)
            t.send("4")
            t.wait_for("following Postfix in journald", timeout=10)
            t.wait_for("192.0.2.10", timeout=10)  # the backfill
            journal.write("postfix/smtpd", "connect from evil[203.0.113.77]")
            journal.write("postfix/smtpd", "warning: [bold red]x[/] \x1b]0;pwned\x07 gone")
            screen = t.wait_for("203.0.113.77", timeout=5)  # followed live
            screen = t.wait_for("[bold red]x[/]", timeout=5)
            assert "not mail, not Postfix" not in screen and "pwned" not in t.pane_title()
            t.send("q")
            t.wait_for(lambda _s: t.pane_dead(), timeout=10)
