"""``systemctl show`` output turned into service states (pure: text in, values out; the real
systemd is in tests/systemd)."""

from __future__ import annotations

from mbtop.probes import systemd

SHOW = """Id=nginx.service
LoadState=loaded
ActiveState=active
SubState=running
Result=success
MainPID=812
ActiveEnterTimestampMonotonic=5000000
StateChangeTimestampMonotonic=5000000

Id=mb-rpcd.service
LoadState=not-found
ActiveState=inactive
SubState=dead
Result=success
MainPID=0
ActiveEnterTimestampMonotonic=0
StateChangeTimestampMonotonic=0
"""


def test_blocks_in_the_order_asked() -> None:
    blocks = systemd.parse_show(SHOW)
    assert [b["Id"] for b in blocks] == ["nginx.service", "mb-rpcd.service"]


def test_an_active_unit_has_its_pid_and_since() -> None:
    st = systemd.unit_state("nginx", systemd.parse_show(SHOW)[0], uptime_base=1_000.0)
    assert (st.state, st.pid, st.since, st.manager, st.detail, st.result) == (
        "running", 812, 1_005.0, "systemd", "running", ""
    )  # fmt: skip


def test_a_unit_that_is_not_installed_is_stopped_and_says_so() -> None:
    st = systemd.unit_state("mb-rpcd", systemd.parse_show(SHOW)[1], uptime_base=0.0)
    assert (st.state, st.pid, st.detail) == ("stopped", None, "not-found")


def test_a_failed_unit_carries_its_result(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(systemd, "journal_tail", lambda unit, lines=5: (f"{unit}: bad line",))
    systemd._journal_cache.clear()
    block = {"Id": "x.service", "LoadState": "loaded", "ActiveState": "failed", "SubState": "failed",
             "Result": "signal", "MainPID": "0", "StateChangeTimestampMonotonic": "7"}  # fmt: skip
    st = systemd.unit_state("x", block, 0.0)
    assert (st.state, st.result, st.log) == ("failed", "signal", ("x.service: bad line",))
    # Read once per failure: the same state change does not ask the journal again.
    monkeypatch.setattr(systemd, "journal_tail", lambda unit, lines=5: ("asked again",))
    assert systemd.unit_state("x", block, 0.0).log == st.log
    assert systemd.unit_state("x", {**block, "StateChangeTimestampMonotonic": "8"}, 0.0).log == ("asked again",)


def test_the_failed_finding_quotes_result_and_the_last_two_journal_lines() -> None:
    from mbtop.catalog import load_reference
    from mbtop.model.health import service_findings
    from mbtop.probes.services import ServiceState

    cat = load_reference()
    log = ("earlier", 'nginx: [emerg] unknown directive "x\x1b]0;t\x07"', "nginx: test failed")
    st = ServiceState("nginx", "failed", None, None, "systemd", "failed", result="exit-code", log=log)
    (f,) = service_findings(cat, [st], [], [])
    assert (
        f.message == 'service nginx has failed (exit-code): nginx: [emerg] unknown directive "x" | nginx: test failed'
    )
    assert "journalctl -u nginx.service" in f.fix


def test_a_crash_looping_unit_is_failed_not_running(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Restart=always between two attempts: ActiveState=activating, SubState=auto-restart."""
    monkeypatch.setattr(systemd, "journal_tail", lambda unit, lines=5: ())
    block = {"Id": "r.service", "LoadState": "loaded", "ActiveState": "activating", "SubState": "auto-restart",
             "Result": "exit-code", "MainPID": "0", "StateChangeTimestampMonotonic": "9"}  # fmt: skip
    st = systemd.unit_state("r", block, 0.0)
    assert (st.state, st.result, st.detail, st.since) == ("failed", "exit-code", "auto-restart", None)
