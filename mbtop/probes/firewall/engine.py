"""A small netfilter evaluator: what happens to one inbound TCP SYN.

Both backends (iptables-save text and nft JSON) are parsed into the same
shape: the base chains a SYN meets (ingress, prerouting, input; per device for
ingress), each a list of rules, each rule a list of matches and a target.
``evaluate`` walks them the way the kernel does: base chains in hook and
priority order, first match wins inside a chain, jumps and gotos and
returns, the chain policy at the end of a base chain; ``accept`` passes the
packet on to the next base chain, ``drop``/``reject`` end it.  A ``notrack``
before connection tracking leaves the packet untracked for the rest of the
walk (``Packet.ct``); before tracking its state is ``invalid``.

Rate matches (``limit``, ``hashlimit``, ``recent``, nft ``limit``, ``ct
count``) are evaluated for a sender that stays under the rate, and remembered:
a verdict reached past one is a ``limit``.  A match the evaluator cannot decide
(an ipset not read, ``time``, ``length``, unknown modules, ...) is tried both
ways by ``decide``: when the outcome is the same either way the verdict
stands, otherwise it is ``unknown`` with that rule named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from mbtop.probes.firewall import skip

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NO_RULES = "no filtering rules"
MAX_DEPTH = 64  # the kernel allows deeper; rule sets that loop are reported, not followed


@dataclass(frozen=True, slots=True)
class Packet:
    """A new inbound TCP connection attempt (the SYN)."""

    family: Literal[4, 6]
    saddr: IPAddress
    daddr: IPAddress
    dport: int
    iface: str
    sport: int = 40000
    daddrs: tuple[IPAddress, ...] = ()  # every address of the host it could be sent to (default: daddr)
    # Its conntrack state as rules see it: "new"; "untracked" after a notrack rule before conntrack;
    # "invalid" in a chain that runs before conntrack (nothing tracked it yet).
    ct: Literal["new", "untracked", "invalid"] = "new"


Outcome = Literal["yes", "no", "unknown"]

SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 604800.0}


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate condition as numbers: ``count`` new connections per ``seconds``."""

    count: float
    seconds: float
    per_source: bool

    @classmethod
    def parse(cls, count: str | float, unit: str, per_source: bool) -> Rate | None:
        try:
            n = float(count)
        except ValueError:
            return None
        secs = SECONDS.get(unit)
        return cls(n, secs, per_source) if secs else None


@dataclass(frozen=True, slots=True)
class Match:
    """One condition of a rule.

    ``test`` answers for a packet.  ``rate`` describes a rate condition
    ("100/minute burst 5"); for those ``test`` answers as for a sender under the
    rate.  ``sources`` lists the networks a source condition names, so the
    evaluator can try a sender from each.
    """

    text: str
    test: Callable[[Packet], Outcome]
    rate: str | None = None
    sources: tuple[IPNetwork, ...] = ()  # source networks named, negated ones included
    value: Rate | None = None  # the rate as numbers, when it limits new connections
    within: tuple[IPNetwork, ...] = ()  # says "no", and nothing else, to any sender outside these (``skip``)


# "unknown": a target whose effect mbtop cannot tell (NFQUEUE, an unknown extension, a missing chain).
# "notrack": the packet goes on untracked (iptables' CT --notrack / NOTRACK, nft's notrack).
TargetKind = Literal["accept", "drop", "reject", "return", "jump", "goto", "continue", "notrack", "unknown"]
# Connection tracking's own hook priority (prerouting -200, as base chains are ordered here): a notrack
# rule only untracks a packet before it; after it the packet is already tracked.
CONNTRACK_PRIORITY = -1_000_000 - 200


@dataclass(frozen=True, slots=True)
class Rule:
    text: str  # as the operator would recognise it (iptables-save / nft syntax)
    matches: tuple[Match, ...]
    target: TargetKind
    chain_target: str | None = None  # for jump/goto
    label: str | None = None  # a friendlier name (the ufw command that made it)
    logs: bool = False  # a LOG-like target: its rate match does not limit anything


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    rules: tuple[Rule, ...]
    policy: Literal["accept", "drop"] | None = None  # base chains only
    priority: int = 0
    family: Literal[4, 6] | None = None  # None: both (nft inet)
    devices: tuple[str, ...] | None = None  # an ingress chain sees only these interfaces' packets (None: all)
    skips: tuple[skip.Run, ...] | None = field(default=None, compare=False, repr=False)  # built when first walked


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One backend's filter at the input hook."""

    backend: str  # "iptables", "iptables-legacy", "nftables", "ufw"
    base: tuple[Chain, ...]  # input-hook base chains
    chains: dict[str, Chain]  # every chain by (table-qualified) name, for jumps
    notes: tuple[str, ...] = ()


Verdict = Literal["accept", "drop", "reject", "unknown"]


@dataclass(slots=True)
class Trace:
    verdict: Verdict
    rule: Rule | None  # the rule that decided; None: a policy (or no rules)
    where: str  # chain of the deciding rule or policy
    rates: list[str] = field(default_factory=list)  # rate conditions on the way
    values: list[Rate] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)  # rules whose match could not be decided
    backend: str = ""
    via: tuple[tuple[str, Rule], ...] = ()  # the jumps (chain, rule) that led to the deciding chain
    untracked: bool = False  # a notrack rule applied before connection tracking
    before_conntrack: bool = False  # the base chain being walked runs before connection tracking

    @property
    def decided_by(self) -> str:
        if self.rule is None:
            if self.where == NO_RULES or self.verdict == "unknown":
                return self.where
            return f"{self.where}: policy {self.verdict}"
        text = f"{self.where}: {self.rule.label or self.rule.text}"
        # ufw's commands label the jump into its helper chains: show the command first.
        labelled = [(c, r) for c, r in self.via if r.label] + ([(self.where, self.rule)] if self.rule.label else [])
        if labelled and not self.rule.label:
            chain, rule = labelled[-1]
            return f"{rule.label} ({chain}: {rule.text} → {self.where}: {self.rule.text})"
        if self.rule.label:
            return f"{self.rule.label} ({self.where}: {self.rule.text})"
        return text


class Oracle:
    """The assumed outcome of each match that cannot be decided, for one run of ``evaluate``.

    Unasked matches are assumed not to match and recorded in ``new`` (key, text)
    so that ``decide`` can try the other way.
    """

    __slots__ = ("fixed", "new")

    def __init__(self, fixed: dict[tuple[int, int], bool] | None = None) -> None:
        self.fixed: dict[tuple[int, int], bool] = dict(fixed or {})
        self.new: list[tuple[tuple[int, int], str]] = []

    def ask(self, key: tuple[int, int], text: str) -> bool:
        if key not in self.fixed:
            self.fixed[key] = False
            self.new.append((key, text))
        return self.fixed[key]


def _rule_applies(rule: Rule, pkt: Packet, trace: Trace, oracle: Oracle) -> bool:
    ct: Literal["new", "untracked", "invalid"] = (
        "untracked" if trace.untracked else "invalid" if trace.before_conntrack else "new"
    )
    if pkt.ct != ct:
        pkt = replace(pkt, ct=ct)
    for i, m in enumerate(rule.matches):
        outcome = m.test(pkt)
        if outcome == "unknown":
            text = f"{rule.label or rule.text} ({m.text}: cannot be decided)" if m.text != rule.text else rule.text
            note = f"{rule.text} ({m.text}: cannot be decided)"
            if note not in trace.uncertain:
                trace.uncertain.append(note)
            if not oracle.ask((id(rule), i), text):
                return False
            continue
        if outcome == "no":
            if m.rate is not None and not rule.logs and _others_apply(rule, m, pkt):
                trace.rates.append(m.rate)
                if m.value is not None:
                    trace.values.append(m.value)
            return False
    for m in rule.matches:
        if m.rate is not None and not rule.logs and rule.target != "continue":
            trace.rates.append(m.rate)
            if m.value is not None:
                trace.values.append(m.value)
    return True


def _others_apply(rule: Rule, skip: Match, pkt: Packet) -> bool:
    return all(m is skip or m.rate is not None or m.test(pkt) == "yes" for m in rule.matches)


class _Loop(Exception):
    pass


Result = tuple[Verdict, Rule | None, str, tuple[tuple[str, Rule], ...]]


def _walk(
    rs: Ruleset,
    chain: Chain,
    pkt: Packet,
    trace: Trace,
    oracle: Oracle,
    depth: int,
    via: tuple[tuple[str, Rule], ...] = (),
) -> Result | None:
    """Run one chain; a verdict, or None when the chain returns/falls through."""
    if depth > MAX_DEPTH:
        raise _Loop(chain.name)
    current = chain
    while True:
        goto: Chain | None = None
        if current.skips is None:
            object.__setattr__(current, "skips", skip.runs(current.rules))  # a cache, not a change of value
        indexed = current.skips or ()
        i = 0
        while i < len(current.rules):
            if indexed and (nxt := skip.next_rule(indexed, i, pkt.saddr)) != i:
                i = nxt
                continue
            rule = current.rules[i]
            i += 1
            if not _rule_applies(rule, pkt, trace, oracle):
                continue
            if rule.target in ("accept", "drop", "reject", "unknown"):
                verdict: Verdict = rule.target
                return verdict, rule, current.name, via
            if rule.target == "return":
                return None
            if rule.target == "notrack":
                # Before conntrack the packet goes on untracked; after it, it is tracked already.
                trace.untracked = trace.untracked or trace.before_conntrack
                continue
            if rule.target in ("jump", "goto") and rule.chain_target is not None:
                sub = rs.chains.get(rule.chain_target)
                if sub is None:
                    trace.uncertain.append(f"{rule.text} (chain {rule.chain_target} not found)")
                    return "unknown", rule, current.name, via
                if rule.target == "goto":
                    goto = sub
                    via = (*via, (current.name, rule))
                    break
                result = _walk(rs, sub, pkt, trace, oracle, depth + 1, (*via, (current.name, rule)))
                if result is not None:
                    return result
        if goto is None:
            return None
        current = goto
        depth += 1
        if depth > MAX_DEPTH:
            raise _Loop(current.name)


def evaluate(rulesets: Sequence[Ruleset], pkt: Packet, oracle: Oracle | None = None) -> Trace:
    """What the kernel does with ``pkt`` given every input-hook ruleset (undecidable matches per ``oracle``)."""
    oracle = oracle if oracle is not None else Oracle()
    bases: list[tuple[int, int, Ruleset, Chain]] = []
    for i, rs in enumerate(rulesets):
        for chain in rs.base:
            if (chain.family is None or chain.family == pkt.family) and (
                chain.devices is None or pkt.iface in chain.devices
            ):
                bases.append((chain.priority, i, rs, chain))
    bases.sort(key=lambda b: (b[0], b[1]))
    trace = Trace("accept", None, NO_RULES)
    last: Trace | None = None
    for prio, _i, rs, chain in bases:
        trace.backend = rs.backend
        trace.before_conntrack = prio < CONNTRACK_PRIORITY
        result: Result | None
        try:
            result = _walk(rs, chain, pkt, trace, oracle, 0)
        except _Loop as loop:
            trace.uncertain.append(f"chain {loop} nests deeper than {MAX_DEPTH}: not followed")
            result = ("unknown", None, f"chain {loop} nests deeper than {MAX_DEPTH} (a loop?)", ())
        if result is None:
            policy = chain.policy or "accept"
            result = (policy, None, chain.name, ())
        verdict, rule, where, via = result
        trace.verdict, trace.rule, trace.where, trace.via = verdict, rule, where, via
        if verdict != "accept":
            return trace
        last = Trace(
            verdict, rule, where, list(trace.rates), list(trace.values), list(trace.uncertain), rs.backend, via
        )
    return last or trace


BRANCH_BUDGET = 64  # runs per packet; past that the verdict is unknown rather than slow


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one packet over every way its undecidable matches could go."""

    outcome: Literal["open", "closed", "unknown"]
    trace: Trace  # the run with every undecidable match assumed not to match
    because: str | None = None  # for unknown: the rule that makes it so


def decide(rulesets: Sequence[Ruleset], pkt: Packet, budget: int = BRANCH_BUDGET) -> Decision:
    """Evaluate ``pkt`` once per combination of outcomes of the matches that cannot be decided."""
    pending: list[dict[tuple[int, int], bool]] = [{}]
    traces: list[Trace] = []
    first: str | None = None
    while pending:
        if len(traces) >= budget:
            return Decision("unknown", traces[0], f"more than {budget} undecidable combinations, first: {first}")
        fixed = pending.pop()
        oracle = Oracle(fixed)
        trace = evaluate(rulesets, pkt, oracle)
        traces.append(trace)
        if trace.verdict == "unknown":
            return Decision("unknown", traces[0], trace.decided_by)
        for j, (key, text) in enumerate(oracle.new):
            first = first or text
            branch = dict(fixed)
            branch.update((k, False) for k, _ in oracle.new[:j])
            branch[key] = True
            pending.append(branch)
    opens = {t.verdict == "accept" for t in traces}
    if len(opens) > 1:
        return Decision("unknown", traces[0], first)
    return Decision("open" if traces[0].verdict == "accept" else "closed", traces[0])
