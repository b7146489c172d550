"""A fixed-seed sample of the differential harness (bench/fwdiff.py) in the suite.

Random valid rule sets (iptables/ip6tables, native nftables, ufw, mixes) are
loaded for real in a private gateway namespace; a client namespace sends one
real SYN per documented port from senders inside, outside and at the edges of
every network the rules name, IPv4 and IPv6, over both of the gateway's
interfaces; every definite verdict of ``mbtop firewall --json`` must be what
the kernel did.  ``unknown`` is allowed (mbtop saying it cannot tell).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import require_root_netns

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fwdiff import run_one
from fwdiff_gen_nft import generate

# ~1.5 s a rule set: the sample stays well under a minute (bench/fwdiff.py runs thousands).
SEEDS = range(9000, 9024)


@pytest.mark.parametrize("chunk", range(3))
def test_random_rule_sets_give_no_wrong_verdict(chunk: int) -> None:
    require_root_netns()
    seeds = [s for s in SEEDS if s % 3 == chunk]
    wrong: list[str] = []
    loaded = 0
    for seed in seeds:
        rs = generate(seed)
        out = run_one(rs)
        if not out.loaded:
            continue
        loaded += 1
        assert not [c for c in out.checks if c.kernel.startswith("error")], f"seed {seed}: the probe itself failed"
        for c in out.wrong:
            wrong.append(f"seed {seed} port {c.port} from {c.sender} via {c.iface}: mbtop "
                         f"{'open' if c.expect else 'closed'}, kernel {c.kernel}")  # fmt: skip
    assert loaded >= len(seeds) * 3 // 4, "most rule sets must load: the generator drifted"
    assert not wrong, "\n".join(wrong[:20]) + "\nreproduce: .venv/bin/python bench/fwdiff.py --seed SEED --count 1"


def test_the_harness_catches_a_wrong_verdict() -> None:
    """The harness can fail: an evaluator that ignores user chains with upper-case names is caught."""
    require_root_netns()
    from fwdiff_gen import RuleSet, Section

    rs = RuleSet(
        0,
        "iptables",
        (
            Section(
                "iptables",
                ("*filter", ":INPUT DROP [0:0]", ":MAIL_IN - [0:0]"),
                ("-A INPUT -p tcp -m tcp --dport 25 -j MAIL_IN", "-A MAIL_IN -s 172.20.0.0/16 -j ACCEPT"),
                ("COMMIT",),
            ),
        ),
        ("172.20.0.0/16",),
    )
    out = run_one(rs)
    assert out.loaded and not out.wrong
    opened = {c.sender for c in out.checks if c.port == 25 and c.family == 4 and c.kernel == "open"}
    assert opened and all(s.startswith("172.20.") for s in opened)
    # The same checks against a verdict that says "deny" for 25 (what mbtop said before the fix): caught.
    for c in out.checks:
        if c.port == 25 and c.family == 4:
            c.expect = False
    assert out.wrong
