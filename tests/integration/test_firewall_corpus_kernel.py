"""The corpus rule sets that exercise what a new connection meets outside filter INPUT, judged live.

tests/unit/test_firewall_corpus.py judges verdicts computed from recorded dumps;
this runs the real thing once more on this machine's kernel and tools: each
rule set is loaded in one gateway namespace (flushed in between), ``mbtop
firewall --json`` is asked there, and real SYNs from the client namespace must
agree with every definite verdict (raw/mangle/nat tables, legacy ip6tables
beside an empty nft variant, netdev ingress, notrack, conntrack state before
conntrack).  One namespace set-up for all of them: a few seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import require_root_netns
from tests.support.fwcorpus import observe
from tests.support.fwcorpus_sets import SETS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fwdiff import expect
from fwdiff_gen import PORTS
from fwdiff_lab import lab

LIVE = ("ipt_raw_mangle", "ipt_legacy_and_nft", "ipt_notrack", "nft_multi_base", "ct_before_conntrack")
FLUSH = """
nft flush ruleset
for t in filter raw mangle nat security; do
  for ipt in iptables-legacy ip6tables-legacy; do
    $ipt -t $t -F 2>/dev/null; $ipt -t $t -X 2>/dev/null
    for c in INPUT PREROUTING FORWARD OUTPUT POSTROUTING; do $ipt -t $t -P $c ACCEPT 2>/dev/null; done
  done
done
true
"""


def test_rule_sets_beyond_filter_input_match_the_kernel() -> None:
    require_root_netns()
    wrong: list[str] = []
    definite = 0
    with lab() as gw, gw.listening(PORTS):
        for name in LIVE:
            script, nets = SETS[name]
            assert gw.sh(FLUSH).returncode == 0
            loaded = gw.sh(script)
            assert loaded.returncode == 0, f"{name}: {loaded.stderr[-500:]}"
            doc = gw.firewall()
            entries = {p["port"]: {f["family"]: f for f in p["families"]} for p in doc["ports"]}
            for key, seen in observe(gw, PORTS, nets).items():
                port, fam, iface = key.split()
                entry = entries[int(port)][f"ipv{fam}"]
                for outcome, senders in seen.items():
                    for sender in senders:
                        promised = expect(entry, sender, iface)
                        definite += promised is not None
                        if promised is not None and promised != (outcome == "open"):
                            wrong.append(f"{name}: {key} from {sender}: mbtop {entry['verdict']} "
                                         f"({entry['rule']}), kernel {outcome}")  # fmt: skip
    assert not wrong, "\n".join(wrong[:30])
    assert definite > 500  # the checks ran (none vacuous)
