#!/usr/bin/env python3
"""Differential test of mbtop's firewall verdicts against the kernel.

For each seed: a random valid rule set (iptables/ip6tables, native nftables,
ufw, or a mix) is loaded into a fresh gateway namespace with a listener on
every documented port; ``mbtop firewall --json`` gives its verdicts; then a
client namespace sends one real SYN per port from senders inside, outside and
at the edges of every network the rules name (negated ones too), IPv4 and
IPv6, over both of the gateway's interfaces.  A check is wrong when mbtop gives
a definite answer (open or kept out) that the kernel contradicts; ``unknown``
is mbtop saying it cannot tell, counted apart.  Every disagreement is printed
with its rule set and seed; ``--minimise`` cuts a failing rule set down to the
rules that matter.  Run as root:

    .venv/bin/python bench/fwdiff.py --seed 1 --count 500
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fwdiff_lab
from fwdiff_gen import PORTS, RuleSet
from fwdiff_gen_nft import generate
from fwdiff_lab import IFACES, Lab, lab

POOLS = {4: ipaddress.ip_network("172.16.0.0/12"), 6: ipaddress.ip_network("2001:db8::/32")}
SENDERS_PER_FAMILY = 12

Job = tuple[str, str, int]  # source, destination, port


@dataclass
class Check:
    port: int
    family: int
    sender: str
    iface: str
    expect: bool | None  # None: mbtop says it cannot tell (or its list was cut short)
    kernel: str = ""

    @property
    def wrong(self) -> bool:
        return self.expect is not None and self.expect != (self.kernel == "open")


@dataclass
class Outcome:
    seed: int
    backend: str
    loaded: bool
    why: str = ""
    checks: list[Check] = field(default_factory=list)
    doc: dict | None = None

    @property
    def wrong(self) -> list[Check]:
        return [c for c in self.checks if c.wrong]


def senders(rs: RuleSet, fam: int, r: random.Random) -> list[str]:
    """Addresses inside, at the edges of, and just outside every named network, plus outsiders."""
    pool = POOLS[fam]
    found: list[int] = []
    for text in rs.nets:
        net = ipaddress.ip_network(text, strict=False)
        if net.version != fam:
            continue
        lo, hi = int(net.network_address), int(net.broadcast_address)
        found += [lo, hi, lo - 1, hi + 1, r.randint(lo, hi)]
    lo_pool, hi_pool = int(pool.network_address), int(pool.broadcast_address)
    inside = sorted({a for a in found if lo_pool < a < hi_pool})
    picked = r.sample(inside, min(len(inside), SENDERS_PER_FAMILY - 2))
    picked += [r.randint(lo_pool + 1, hi_pool - 1) for _ in range(2)]
    return [str(ipaddress.ip_address(a)) if fam == 4 else str(ipaddress.IPv6Address(a)) for a in picked]


def expect(entry: dict, sender: str, iface: str) -> bool | None:
    """What mbtop's JSON promises for this sender on this interface (the README's contract)."""
    if entry["verdict"] == "unknown":
        return None
    addr = ipaddress.ip_address(sender)

    def hit(text: str) -> bool:
        net, _, via = text.partition(" via ")
        if via and via != iface:
            return False
        return net == "any" or addr in ipaddress.ip_network(net, strict=False)

    listed = [e for e in entry["except"] if not e.startswith("+")]
    kept_out = any(hit(e) for e in listed)
    if not kept_out and len(listed) != len(entry["except"]):
        return None  # the list was cut short: this sender may be in the part not shown
    if entry["verdict"] in ("allow", "limit"):
        return not kept_out
    if entry["verdict"] == "restricted":
        return any(hit(s) for s in entry["sources"]) and not kept_out
    return False


def load(lab_: Lab, rs: RuleSet) -> str:
    """Load every section; the error when the kernel (or ufw) refused one."""
    for s in rs.sections:
        if s.kind in ("iptables", "ip6tables"):
            done = lab_.sh(f"{s.kind}-restore", stdin=s.text())
        elif s.kind == "nft":
            done = lab_.sh("nft -f -", stdin=s.text())
        else:
            done = lab_.sh("set -e\n" + "\n".join(f"{c} >/dev/null" for c in (*s.head, *s.rules, *s.tail)))
        if done.returncode != 0:
            return f"{s.kind}: {done.stderr.strip()[-300:]}"
    return ""


def run_one(rs: RuleSet, only: set[tuple[int, str, str, int]] | None = None) -> Outcome:
    out = Outcome(rs.seed, rs.backend, False)
    r = random.Random(rs.seed * 7919)
    with lab() as L, L.listening(PORTS):
        out.why = load(L, rs)
        if out.why:
            return out
        out.loaded = True
        doc = out.doc = L.firewall()
        entries = {p["port"]: {f["family"]: f for f in p["families"]} for p in doc["ports"]}
        jobs: list[Job] = []
        for fam in (4, 6):
            for sender in senders(rs, fam, r):
                for iface, addrs in IFACES.items():
                    for port in PORTS:
                        if only is not None and (port, sender, iface, fam) not in only:
                            continue
                        entry = entries[port][f"ipv{fam}"]
                        out.checks.append(Check(port, fam, sender, iface, expect(entry, sender, iface)))
                        jobs.append((sender, addrs[0 if fam == 4 else 1], port))
        for check, result in zip(out.checks, L.probe(jobs), strict=True):
            check.kernel = result
    return out


def minimise(rs: RuleSet, failing: list[Check]) -> RuleSet:
    """Drop rules one at a time while some of the same checks still disagree."""
    keys = {(c.port, c.sender, c.iface, c.family) for c in failing}
    current = rs
    for si in range(len(rs.sections)):
        ri = 0
        while ri < len(current.sections[si].rules):
            trial = current.without(si, ri)
            got = run_one(trial, keys)
            if got.loaded and got.wrong:
                current = trial
            else:
                ri += 1
    return current


def report(o: Outcome, rs: RuleSet, doc_ports: bool = True) -> None:
    print(f"\n=== seed {o.seed} ({o.backend}): {len(o.wrong)} wrong of {len(o.checks)}")
    for c in o.wrong[:12]:
        entry = next(p for p in (o.doc or {}).get("ports", []) if p["port"] == c.port)
        fam = next(f for f in entry["families"] if f["family"] == f"ipv{c.family}")
        print(f"  port {c.port} from {c.sender} via {c.iface}: mbtop {'open' if c.expect else 'closed'}"
              f" ({fam['verdict']} sources={fam['sources']} except={fam['except']} rule={fam['rule']!r}),"
              f" kernel {c.kernel}")  # fmt: skip
    print(rs.text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1, help="first seed (each rule set is seed, seed+1, ...)")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--minimise", action="store_true", help="cut each failing rule set down to what matters")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    ap.add_argument("--mbtop", metavar="DIR", help="judge the mbtop of another checkout (e.g. an older one)")
    args = ap.parse_args(argv)
    if args.mbtop:
        fwdiff_lab.REPO = Path(args.mbtop).resolve()
    started = time.monotonic()
    totals: Counter[str] = Counter()
    by_backend: Counter[str] = Counter()
    failing_seeds: list[int] = []
    for seed in range(args.seed, args.seed + args.count):
        rs = generate(seed)
        try:
            o = run_one(rs)
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"seed {seed}: harness error: {exc}", file=sys.stderr)
            totals["harness_errors"] += 1
            continue
        if not o.loaded:
            totals["refused"] += 1
            print(f"seed {seed}: rule set refused ({o.why})", file=sys.stderr)
            continue
        by_backend[rs.backend] += 1
        totals["rulesets"] += 1
        totals["checks"] += len(o.checks)
        totals["unknown"] += sum(c.expect is None for c in o.checks)
        totals["probe_errors"] += sum(c.kernel.startswith("error") for c in o.checks)
        totals["wrong"] += len(o.wrong)
        if o.wrong:
            failing_seeds.append(seed)
            report(o, minimise(rs, o.wrong) if args.minimise else rs)
    share = totals["unknown"] / totals["checks"] if totals["checks"] else 0.0
    figures = {
        "first_seed": args.seed,
        "count": args.count,
        **totals,
        "unknown_share": round(share, 4),
        "by_backend": dict(by_backend),
        "failing_seeds": failing_seeds,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 1 if totals["wrong"] or totals["probe_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
