"""The screen says "?" where mbtop cannot tell a port's firewall verdict, and names the rule (issue 17)."""

from __future__ import annotations

import dataclasses

from mbtop.catalog import load_reference
from mbtop.probes.firewall import FirewallState, Host, analyse
from mbtop.probes.firewall import iptables as ipt
from mbtop.probes.record import Replay
from mbtop.ui.screens.detail import PortDetail
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.widgets.livetable import LiveTable
from tests.ui.appkit import SAMPLES, make_app, samples

RULES = (
    "*filter\n:INPUT DROP [0:0]\n"
    "-A INPUT -p tcp -m tcp --dport 25 -m time --timestart 08:00:00 --timestop 18:00:00 -j DROP\n"
    "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
    "-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT\n"
    "COMMIT\n"
)


async def test_an_undecidable_port_shows_a_question_mark_and_the_rule() -> None:
    rs = ipt.parse_save(RULES, 4)
    assert rs is not None
    ports = analyse([rs], load_reference().tcp_ports, Host(("eth0",)), "iptables", [4])
    state = FirewallState("iptables", True, ports, ("IPv4 INPUT policy DROP (iptables)",), False, rules=3)
    app = make_app()
    app.source = Replay([dataclasses.replace(s, firewall=state) for s in SAMPLES])
    async with app.run_test(size=(160, 48)) as pilot:
        await samples(pilot, 1)
        main = app.screen_stack[1]
        assert isinstance(main, MainScreen)
        overview = main.query_one("#overview-table", LiveTable)
        assert overview.cell_text("port:25", "fw") == "?"
        assert overview.cell_text("port:80", "fw") == "allow"
        await pilot.press("enter")  # the first row: port 25's detail
        detail = app.screen
        assert isinstance(detail, PortDetail)
        text = str(detail.query_one("#summary").render())
        assert "firewall (iptables): ? — cannot tell: -A INPUT -p tcp -m tcp --dport 25 -m time" in text
