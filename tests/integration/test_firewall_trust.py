"""The firewall reader runs only the system's binaries, and the JSON keeps every key of its schema."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mbtop import syscmd
from mbtop.probes.firewall import read
from tests.conftest import require_root_netns
from tests.support.netns import netns

PORT_KEYS = {"backend", "verdict", "sources", "rule", "limit", "except", "families", "reason", "unknown_because"}


def test_a_planted_iptables_save_first_in_path_is_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    for name in ("iptables-save", "ip6tables-save", "nft"):
        fake = tmp_path / name
        fake.write_text(f"#!/bin/sh\necho planted > {marker}\necho '*filter'\n")
        fake.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ.get('PATH', '')}")
    got = read.run_all([["iptables-save"], ["nft", "--version"]])
    assert not marker.exists(), "a binary from the caller's PATH ran"
    assert all(r.why != "" or r.ok for r in got)
    assert syscmd.SYSTEM_PATH == "/usr/sbin:/usr/bin:/sbin:/bin" and syscmd.ENV["PATH"] == syscmd.SYSTEM_PATH


def test_snapshot_json_keeps_the_firewall_keys_with_no_firewall() -> None:
    require_root_netns()
    with netns() as ns:
        for extra in (("--no-firewall",), ()):
            doc = ns.snapshot(*extra)
            assert "firewall" in doc
            for port in doc["ports"]:
                assert set(port["firewall"]) == PORT_KEYS, (extra, port["firewall"])
                for fam in port["firewall"]["families"]:
                    assert {"family", "verdict", "sources", "rule", "limit", "except", "unknown_because"} == set(fam)
            if extra:
                assert doc["firewall"] is None
            else:
                assert doc["firewall"] is not None and doc["firewall"]["backend"] == "none"
