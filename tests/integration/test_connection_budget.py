"""A sampler on a CPU budget: listeners every sample, the connection table only when due.

Real sockets in a private namespace; `ss` says what the kernel holds at each step.
"""

from __future__ import annotations

import json
import sys
import textwrap

from tests.support.netns import Netns

SCRIPT = textwrap.dedent(
    """
    import json, socket, subprocess
    from mbtop.catalog import load_reference
    from mbtop.model.history import RateTracker
    from mbtop.probes.sample import Sampler

    catalog = load_reference()
    def listen(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port)); s.listen(64); return s
    def connect(n):
        return [socket.create_connection(("127.0.0.1", 25)) for _ in range(n)]
    def conns(sample, port):
        return sum(1 for s in sample.tcp.sockets if s.local_port == port and s.state != "LISTEN")
    def listeners(sample):
        return sorted({s.local_port for s in sample.tcp.sockets if s.state == "LISTEN"})
    def ss(port):
        out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        return len(out.splitlines())

    keep = [listen(25)] + connect(3)
    out = {}
    tiny = Sampler(catalog, firewall_every=None, connections_budget=1e-9)  # a read "costs" ages
    rates = RateTracker([25])
    first = tiny.sample()
    r1 = rates.update(first)
    keep += [listen(587)] + connect(2)
    second = tiny.sample()
    r2 = rates.update(second)
    out["first"] = [first.fresh_connections, conns(first, 25), listeners(first)]
    same_read = second.connections_at == first.monotonic
    out["second"] = [second.fresh_connections, conns(second, 25), listeners(second), same_read]
    out["rates_held"] = r2 is r1
    out["ss"] = ss(25)
    every = tiny.sample().connections_every
    tiny.charge_connections(0.001)  # the caller's counting of that read: the next one waits longer
    out["charged"] = round(tiny.sample().connections_every - every, 3)
    tiny.read_connections_next()  # what `r` (sample now) asks for in the live screen
    forced = tiny.sample()
    out["forced"] = [forced.fresh_connections, conns(forced, 25)]
    every = Sampler(catalog, firewall_every=None)  # no budget: every sample reads everything
    third = every.sample()
    out["third"] = [third.fresh_connections, conns(third, 25)]
    print(json.dumps(out))
    """
)


def test_listeners_fresh_every_sample_connections_when_due(ns: Netns) -> None:
    out = json.loads(ns.run(sys.executable, "-c", SCRIPT).stdout)
    # 3 clients: both ends are on port 25's side only once (the server end has local port 25).
    assert out["first"] == [True, 3, [25]]
    # Not due: the listener opened since is there, the two new connections are not yet...
    assert out["second"] == [False, 3, [25, 587], True]
    assert out["rates_held"] is True  # ...and the rate tracker does not count the same table twice
    assert out["ss"] == 5  # while the kernel holds five
    assert out["charged"] == round(0.001 / 1e-9, 3)
    assert out["forced"] == [True, 5]  # asked for: the whole table at once, budget or not
    assert out["third"] == [True, 5]  # a sampler without a budget reads them at once
