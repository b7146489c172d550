"""The gateway's systemd boots beside the host's lab, never on it: its boot-time housekeeping
(systemd-tmpfiles empties /tmp) must not reach the host's files, even when /tmp is shared with it
(a checkout under /tmp: CI's own clones live there)."""

from __future__ import annotations

from tests.systemd.conftest import CANARY, Gateway


def test_the_boot_leaves_the_hosts_tmp_alone(gateway: Gateway) -> None:
    gateway.wait(
        "systemd-tmpfiles-setup has run",
        lambda: gateway.show("systemd-tmpfiles-setup.service", "ActiveState")["ActiveState"] == "active",
    )
    assert CANARY.exists(), "the gateway's boot removed a file from the host's /tmp"
