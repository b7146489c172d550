"""The firewall corpus: load a rule set for real, keep what the tools print and what the kernel does.

``capture`` (run as root: ``.venv/bin/python -m tests.support.fwcorpus [NAME ...]``)
loads each rule set of tests/support/fwcorpus_sets.py into a fresh gateway
namespace (bench/fwdiff_lab.py: two interfaces, any sender address), writes the
dumps the real tools print and, per port, family and interface, which senders
the kernel let in (a SYN answered) and which it kept out, into
tests/fixtures/firewall/corpus/.  tests/unit/test_firewall_corpus.py judges
mbtop's verdicts, computed from those dumps, against those handshakes.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "firewall" / "corpus"
BASE4 = ("172.16.0.9", "172.20.3.4", "172.31.250.1")
BASE6 = ("2001:db8:ffff::9", "2001:db8:1234::5")
DUMPS = {
    "v4": "iptables-save",
    "v6": "ip6tables-save",
    "legacy4": "iptables-legacy-save",
    "legacy6": "ip6tables-legacy-save",
    "json": "nft -j list ruleset",
    "nft": "nft -a list ruleset",
    "ipset": "ipset save",
}
Observed = dict[str, dict[str, list[str]]]  # "PORT FAMILY IFACE" -> {"open": [senders], "closed": [...]}


def senders(nets: Iterable[str]) -> tuple[list[str], list[str]]:
    """A few outsiders, and the first, last and neighbouring addresses of every network named."""
    s4, s6 = list(BASE4), list(BASE6)
    for text in nets:
        n = ipaddress.ip_network(text, strict=False)
        lo, hi = int(n.network_address), int(n.broadcast_address)
        for a in sorted({lo + (1 if hi - lo > 1 else 0), hi - (1 if hi - lo > 1 else 0), lo - 1, hi + 1}):
            addr = ipaddress.IPv4Address(a) if n.version == 4 else ipaddress.IPv6Address(a)
            (s4 if n.version == 4 else s6).append(str(addr))
    return list(dict.fromkeys(s4)), list(dict.fromkeys(s6))


def observe(lab: object, ports: Sequence[int], nets: Iterable[str]) -> Observed:
    """One SYN per sender, port and interface of the gateway; what the kernel did with each."""
    from fwdiff_lab import IFACES

    s4, s6 = senders(nets)
    keys: list[tuple[str, str]] = []
    jobs: list[tuple[str, str, int]] = []
    for fam, group in ((4, s4), (6, s6)):
        for sender in group:
            for iface, addrs in IFACES.items():
                for port in ports:
                    keys.append((f"{port} {fam} {iface}", sender))
                    jobs.append((sender, addrs[0 if fam == 4 else 1], port))
    out: Observed = {}
    for (key, sender), got in zip(keys, lab.probe(jobs), strict=True):  # type: ignore[attr-defined]
        if got.startswith("error"):
            raise RuntimeError(f"probe {key} from {sender}: {got}")
        out.setdefault(key, {"open": [], "closed": []})["open" if got == "open" else "closed"].append(sender)
    return out


def _compact(obs: Observed) -> str:
    lines = [f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in sorted(obs.items())]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def capture(names: Sequence[str], dest: Path = CORPUS) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from fwdiff_gen import PORTS
    from fwdiff_lab import lab

    from tests.support.fwcorpus_sets import SETS

    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        script, nets = SETS[name]
        with lab() as gw, gw.listening(PORTS):
            done = gw.sh(script)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: the rule set did not load: {done.stderr[-800:]}")
            for suffix, cmd in DUMPS.items():
                if name.startswith("alt_legacy") and suffix in ("v4", "v6"):
                    # A host whose alternatives point iptables at legacy: iptables-save is the legacy one.
                    cmd = DUMPS[f"legacy{suffix[1]}"]
                text = gw.sh(cmd).stdout
                if text.strip():
                    (dest / f"{name}.{suffix}").write_text(text)
            if name.startswith("ufw"):
                for f in ("user.rules", "user6.rules"):
                    (dest / f"{name}.{f}").write_text((gw.etc / f).read_text())
            (dest / f"{name}.kernel.json").write_text(_compact(observe(gw, PORTS, nets)))
        print(f"{name}: captured", flush=True)


if __name__ == "__main__":
    from tests.support.fwcorpus_sets import SETS

    capture(sys.argv[1:] or list(SETS))
