"""Plans and their verification say what really runs and what is really known. Pure: plans are made
from hand-built samples (fakes, by design) and nothing is run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mbtop.actions import verify
from mbtop.actions.builders import Context, free_port
from mbtop.actions.plan import Plan
from mbtop.catalog import load_reference
from mbtop.model.build import build
from mbtop.probes.firewall import FamilyVerdict, FirewallState, PortFirewall
from tests.unit.fakes import listen, proc, sample

CAT = load_reference()


def _ctx(tmp_path: Path, ticks: int | None = 100) -> Context:
    (tmp_path / "redis-server").write_text("#!/bin/sh\n")  # an init script exists for redis
    squatter = dataclasses.replace(proc(4242, "squatter"), start_ticks=ticks)
    s = sample(tcp=[listen("0.0.0.0", 6379, 8)], owners={8: (squatter,)})
    return Context(CAT, s, build(CAT, s), init_dir=tmp_path)


def test_free_port_start_says_it_restarts(tmp_path: Path) -> None:
    plan = free_port(_ctx(tmp_path), 6379, start=True)
    assert plan.refused is None
    assert plan.summary == "free port 6379 (Redis), then restart redis"
    runs = [s for s in plan.steps if s.kind == "exec"]
    assert len(runs) == 1 and "restart" in runs[0].argv and runs[0].text.startswith("restart redis")
    assert "restart" in plan.preview().splitlines()[0]
    assert free_port(_ctx(tmp_path), 6379).summary == "free port 6379 (Redis)"


def test_free_port_is_refused_when_the_start_time_is_unknown(tmp_path: Path) -> None:
    plan = free_port(_ctx(tmp_path, ticks=None), 6379)
    assert plan.refused is not None and "start time of pid 4242 is unknown" in plan.refused
    assert all(s.start_ticks == 0 for s in plan.steps if s.kind == "signal")  # would be refused at run time too


def _block_plan(addr: str = "203.0.113.9") -> Plan:
    return Plan("block", addr, f"block {addr} with nftables", ())


def _snap(firewall: FirewallState | None):  # type: ignore[no-untyped-def]
    s = sample(tcp=[listen("0.0.0.0", 25, 7)], owners={7: (proc(70, "master"),)})
    return build(CAT, dataclasses.replace(s, firewall=firewall))


def test_a_block_without_firewall_data_is_not_verified() -> None:
    seen, good = verify.lines(_block_plan(), CAT, _snap(None))
    assert good is None and seen and seen[0].startswith("not verified: the firewall was not read")
    unknown = FirewallState("unknown", False, {}, (), None, reason="iptables-save: not installed")
    seen, good = verify.lines(_block_plan(), CAT, _snap(unknown))
    assert good is None and "could not be read" in seen[0]
    v4_only = FamilyVerdict(4, "allow", (), "INPUT: accept", None, excepted=("203.0.113.9",))
    fw = FirewallState(
        "nftables", True, {25: PortFirewall(25, "nftables", "allow", (), None, None, (v4_only,))}, (), True
    )
    seen, good = verify.lines(_block_plan("2001:db8::9"), CAT, _snap(fw))
    assert good is None and "no IPv6 verdict" in seen[0]  # nothing to check an IPv6 block against


def test_a_block_the_firewall_shows_is_verified() -> None:
    kept_out = FamilyVerdict(4, "allow", (), "INPUT: accept", None, excepted=("203.0.113.9",))
    let_in = FamilyVerdict(4, "allow", (), "INPUT: accept", None)
    for fam, want in ((kept_out, True), (let_in, False)):
        fw = FirewallState(
            "nftables", True, {25: PortFirewall(25, "nftables", "allow", (), None, None, (fam,))}, (), True
        )
        seen, good = verify.lines(_block_plan(), CAT, _snap(fw))
        assert good is want, seen
