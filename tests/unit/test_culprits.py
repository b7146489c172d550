"""The culprit table (mbtop/catalog/culprits.toml) and what the model and the free-port plan make
of it.  Pure: fake probe values (tests/unit/fakes.py); the real packages are in
tests/systemd/test_culprits.py."""

from __future__ import annotations

import dataclasses

import pytest

from mbtop.actions import builders
from mbtop.catalog import CatalogError, load_reference
from mbtop.model import culprits
from mbtop.model.build import build
from tests.unit.fakes import listen, proc, sample
from tests.unit.test_model import _healthy

CAT = load_reference()


def _squatted(port: int, name: str, user: str = "root") -> tuple[dict, int]:
    args = _healthy()
    inode = next(s.inode for s in args["tcp"] if s.local_port == port)
    args["tcp"] = [listen("0.0.0.0", port, inode) if s.local_port == port else s for s in args["tcp"]]
    args["owners"][inode] = (proc(4242, name, user=user),)
    return args, inode


@pytest.mark.parametrize(
    ("port", "name", "what", "command"),
    [
        (
            25,
            "exim4",
            "Debian's default mail server",
            "systemctl disable --now exim4 && systemctl start postfix",
        ),
        (587, "sendmail-mta", "the sendmail MTA", "systemctl disable --now sendmail && systemctl start postfix"),
        (80, "apache2", "the Apache web server", "systemctl disable --now apache2 && systemctl start nginx"),
        (443, "apache2", "the Apache web server", "systemctl disable --now apache2 && systemctl start nginx"),
        (
            10050,
            "zabbix_agentd",
            "a Zabbix agent",
            "systemctl disable --now zabbix-agent && systemctl start mb-cluster",
        ),
        (
            6379,
            "valkey-server",
            "a second Redis-compatible server",
            "systemctl disable --now valkey-server && systemctl start redis-server",
        ),
        (
            10031,
            "postgrey",
            "a Postfix policy service left from an earlier setup",
            "systemctl disable --now postgrey && systemctl start mb-filter",
        ),
        (
            10032,
            "opendkim",
            "a milter or content filter left from an earlier setup",
            "systemctl disable --now opendkim && systemctl start mb-milter",
        ),
    ],
)
def test_a_known_culprit_is_named_explained_and_fixed(port: int, name: str, what: str, command: str) -> None:
    args, _ = _squatted(port, name)
    snap = build(CAT, sample(**args))
    found = next(f for f in snap.findings if f.code == "unexpected-owner" and f.port == port)
    assert found.severity == "critical" and found.action == f"free-port {port}"
    assert f"is held by {name} (pid 4242, user root), {what}, not " in found.message, found.message
    assert found.message.count(". ") == 0 and found.message.endswith("."), found.message  # one sentence
    assert found.fix.startswith(command), found.fix


def test_an_unknown_program_keeps_the_generic_message() -> None:
    args, _ = _squatted(25, "python3", user="nobody")
    found = next(f for f in build(CAT, sample(**args)).findings if f.code == "unexpected-owner")
    assert (
        found.message
        == "port 25 (SMTP) is held by python3 (pid 4242, user nobody), not postfix (expected master, smtpd, postscreen)"
    )
    assert found.fix.startswith("stop the process holding the port, then start postfix")


def test_a_culprit_only_counts_on_its_own_ports() -> None:
    """apache2 on Redis's port is a squatter, not "apache2 serves Debian's default site"."""
    args, _ = _squatted(6379, "apache2")
    found = next(f for f in build(CAT, sample(**args)).findings if f.code == "unexpected-owner")
    assert "default site" not in found.message and found.fix.startswith("stop the process")


def test_docker_proxy_on_any_port_names_the_port() -> None:
    args, _ = _squatted(3306, "docker-proxy")
    found = next(f for f in build(CAT, sample(**args)).findings if f.code == "unexpected-owner")
    assert "docker run -p 3306:" in found.message and "docker ps --filter publish=3306" in found.fix


def test_free_port_preview_says_what_it_stops() -> None:
    args, _ = _squatted(25, "exim4")
    smp = sample(**args)
    ctx = builders.Context(CAT, smp, build(CAT, smp))
    plan = builders.free_port(ctx, 25, start=True)
    text = plan.preview()
    assert plan.summary == "free port 25 (SMTP): stop Debian's default mail server (exim4), then restart postfix"
    assert "send SIGTERM to exim4 (pid 4242)" in text
    assert "to keep it away: systemctl disable exim4" in text
    assert "the fix: systemctl disable --now exim4 && systemctl start postfix" in text


def test_free_port_preview_of_an_unknown_program_is_unchanged() -> None:
    args, _ = _squatted(25, "python3")
    smp = sample(**args)
    plan = builders.free_port(builders.Context(CAT, smp, build(CAT, smp)), 25)
    assert plan.summary == "free port 25 (SMTP)" and plan.notes == ()


def test_the_shipped_table_is_well_formed() -> None:
    table = culprits.table()
    assert len(table) >= 8
    named = {p for c in table for p in c.processes}
    assert {"exim4", "apache2", "zabbix_agentd", "sendmail-mta"} <= named
    for c in table:
        assert c.why.endswith(".") and c.command and c.keep_away
        assert all(len(p) <= 15 for p in c.processes), c.processes  # comm is cut at 15 characters


@pytest.mark.parametrize(
    "text",
    [
        "[[culprits]\n",
        '[[culprits]]\nprocesses = []\nwhat = "x"\nwhy = "y."\ncommand = "z"\n',
        '[[culprits]]\nprocesses = ["a"]\nports = [0]\nwhat = "x"\nwhy = "y."\ncommand = "z"\n',
        '[[culprits]]\nprocesses = ["a"]\nwhat = "x"\nwhy = "y."\n',
    ],
)
def test_a_malformed_table_is_refused(text: str) -> None:
    with pytest.raises(CatalogError):
        culprits.parse(text)


def test_a_stray_brace_in_the_table_is_shown_as_written() -> None:
    table = culprits.parse('[[culprits]]\nprocesses = ["a"]\nwhat = "x"\nwhy = "y {nope}."\ncommand = "z {unit}"\n')
    spec = CAT.port(25)
    assert spec is not None
    got = culprits.explain(spec, ["a"], CAT, table)
    assert got is not None and got.why == "y {nope}." and got.command == "z postfix"


def _with_redis(state: str, detail: str, manager: str = "systemd", result: str = ""):  # type: ignore[no-untyped-def]
    """The healthy sample (redis-server on 6379, by name the documented program) with redis's unit state."""
    from mbtop.probes.services import ServiceState

    st = ServiceState("redis", state, None, None, manager, detail, result=result)  # type: ignore[arg-type]
    return dataclasses.replace(sample(**_healthy()), services=(st,))


def test_a_second_instance_holds_the_port_of_a_failed_unit() -> None:
    snap = build(CAT, _with_redis("failed", "failed", result="exit-code"))
    (f,) = [f for f in snap.findings if f.code == "second-instance"]
    assert f.port == 6379 and f.severity == "critical"
    assert (
        "is held by redis-server (pid " in f.message
        and "redis-server.service is failed (exit-code), so another" in f.message
    )
    assert "systemctl status " in f.fix and "&& systemctl restart redis-server" in f.fix


@pytest.mark.parametrize(
    ("state", "detail", "manager"),
    [
        ("running", "running", "systemd"),  # the unit's own process
        ("stopped", "stop-sigterm", "systemd"),  # deactivating: its old process still listens for a moment
        ("failed", "failed", "init"),  # no systemd: no unit to compare with
    ],
)
def test_no_second_instance_otherwise(state: str, detail: str, manager: str) -> None:
    snap = build(CAT, _with_redis(state, detail, manager))
    assert not [f for f in snap.findings if f.code == "second-instance"]
