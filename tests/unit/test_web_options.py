"""`mbtop web`'s pure parts: [web] in the config, --listen, TLS required off loopback, the token
(its comparison and its file), the session's command line and the audit line naming the session."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.actions import audit
from mbtop.actions.plan import Plan
from mbtop.cli import TABS, parse
from mbtop.cli.web import WebError, child_argv, parse_listen, store_token, tls_context
from mbtop.cli.webserver import child_env, same_token
from mbtop.config import Config, ConfigError, WebConfig, from_data
from tests.support.require import require


def _cfg(**web: object) -> Config:
    return from_data({"web": web}, "test.toml")


def test_web_table_defaults_and_values() -> None:
    assert from_data({}, None).web == WebConfig()
    cfg = _cfg(listen="0.0.0.0:9443", cert="/etc/mbtop/web.crt", key="/etc/mbtop/web.key", max_sessions=2)
    assert cfg.web == WebConfig("0.0.0.0:9443", Path("/etc/mbtop/web.crt"), Path("/etc/mbtop/web.key"), 2)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"port": 1}, "unknown setting"),
        ({"listen": 8765}, "listen must be ADDR:PORT"),
        ({"listen": "127.0.0.1:87 65"}, "listen must be ADDR:PORT"),
        ({"cert": "web.crt", "key": "/k"}, "cert must be an absolute path"),
        ({"cert": "/c"}, "cert and key go together"),
        ({"max_sessions": 0}, "max_sessions"),
        ({"max_sessions": True}, "max_sessions"),
        ({"max_sessions": 65}, "max_sessions"),
    ],
)
def test_web_table_refusals(table: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        _cfg(**table)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765)),
        ("localhost:80", ("127.0.0.1", 80)),
        ("[::1]:8765", ("::1", 8765)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_listen(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["8765", "127.0.0.1", "host.example:8765", "127.0.0.1:70000", "127.0.0.1:x"])
def test_listen_refused(text: str) -> None:
    with pytest.raises(WebError):
        parse_listen(text)


def test_anything_but_loopback_needs_tls() -> None:
    cfg = _cfg()
    assert tls_context(cfg, "127.0.0.1") is None
    assert tls_context(cfg, "::1") is None
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        with pytest.raises(WebError, match="without TLS"):
            tls_context(cfg, host)
    missing = _cfg(cert="/nonexistent/web.crt", key="/nonexistent/web.key")
    with pytest.raises(WebError, match=r"\[web\] (cert|key) /nonexistent"):
        tls_context(missing, "0.0.0.0")


def test_token_comparison() -> None:
    token = "abc-DEF_123"
    assert same_token(token, token)
    for wrong in (None, "", "abc-DEF_12", "abc-DEF_1234", "ABC-DEF_123", "abc-DEF_12\u00e9"):
        assert not same_token(wrong, token)


@pytest.fixture
def safe_dir(tmp_path: Path) -> Iterator[Path]:
    """As root, a directory on a path only root can write (the rule for the token's), else tmp_path."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(dir="/run", prefix="mbtop-web-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_token_file_is_0600_and_replaces_a_link_without_following_it(safe_dir: Path) -> None:
    tmp_path = safe_dir
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    target = tmp_path / "web-8765.token"
    target.symlink_to(victim)
    store_token(target, "s3cret")
    assert victim.read_text() == "keep me\n"
    st = os.lstat(target)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert target.read_text() == "s3cret\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_store_token_as_root_refuses_a_directory_others_can_write(tmp_path: Path) -> None:
    require(os.geteuid() == 0, "the directory checks apply to root")
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    loose.chmod(0o777)
    with pytest.raises(ValueError, match="writable by group or others"):
        store_token(loose / "web.token", "s3cret")
    assert list(loose.iterdir()) == []


def _args(*argv: str) -> argparse.Namespace:
    return parse(["web", *argv])


def test_a_session_runs_mbtop_read_only_unless_actions_are_allowed(tmp_path: Path) -> None:
    cfg = from_data({}, "/etc/mbtop/config.toml")
    argv = child_argv(cfg, _args("--no-firewall"))
    assert argv[:3] == [sys.executable, "-m", "mbtop"]
    assert "--read-only" in argv and "--no-firewall" in argv
    assert argv[argv.index("--config") + 1] == "/etc/mbtop/config.toml"
    assert "--read-only" not in child_argv(cfg, _args("--allow-actions"))
    rec = tmp_path / "rec.db"
    argv = child_argv(cfg, _args("--replay", str(rec)))
    assert argv[argv.index("--replay") + 1] == str(rec)
    # Every word is its own argv item: nothing here is ever a shell string.
    assert all(isinstance(a, str) for a in argv)


def test_the_session_environment_is_minimal() -> None:
    env = child_env({"PATH": "/tmp/evil:/usr/bin", "LD_PRELOAD": "/tmp/x.so", "SUDO_USER": "alice", "HOME": "/root"})
    assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin"
    assert "LD_PRELOAD" not in env and env["SUDO_USER"] == "alice"


def test_tab_option_of_the_live_screen() -> None:
    assert parse(["--tab", "flood"]).tab == "flood"
    assert TABS[4] == "flood" and len(TABS) == 8
    with pytest.raises(SystemExit):
        parse(["--tab", "nope"])
    with pytest.raises(SystemExit):
        parse(["--tab", "flood", "snapshot"])  # an option of the live screen alone


def test_the_audit_line_names_the_web_session(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = Plan(action="restart", target="postfix", summary="restart postfix")
    monkeypatch.delenv(audit.WEB_SESSION_ENV, raising=False)
    assert "web_session" not in json.loads(audit.line(plan, "started", ""))
    monkeypatch.setenv(audit.WEB_SESSION_ENV, "0123abcd4567ef89")
    assert json.loads(audit.line(plan, "started", ""))["web_session"] == "0123abcd4567ef89"
    monkeypatch.setenv(audit.WEB_SESSION_ENV, "x\n{forged}")  # only a hex id is believed
    assert "web_session" not in json.loads(audit.line(plan, "started", ""))
