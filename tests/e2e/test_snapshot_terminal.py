"""The installed mbtop in a real terminal (tmux), on the real stack."""

from __future__ import annotations

import pytest

from tests.support import stack as st
from tests.support.tmux import Tmux, mbtop_bin

SIZES = [(80, 24, "xterm-256color"), (80, 24, "linux"), (200, 50, "xterm-256color"), (200, 50, "linux")]


@pytest.mark.parametrize(("width", "height", "term"), SIZES)
def test_snapshot_lists_every_documented_port_and_socket(width: int, height: int, term: str) -> None:
    st.require_stack()
    snap = st.snapshot()
    with Tmux([mbtop_bin(), "snapshot"], width, height, term) as t:
        t.wait_for(lambda s: "/var/run/redis/redis.sock" in s, history=True)
        assert t.wait_for(lambda _s: t.pane_dead())
        # Joined: a line mbtop wrote wider than the terminal is one long line here, not two.
        screen = t.screen(history=True, joined=True)
        lines = [line.rstrip() for line in screen.splitlines()]
    for p in snap["ports"]:
        assert any(line.split()[1:2] == [f"{p['port']}/tcp"] for line in lines if line.strip()), p["port"]
    for s in snap["sockets"]:
        assert s["path"] in screen
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    if width > 80:
        assert any(len(line) > 80 for line in lines)  # the wide terminal is used
    assert "CRIT" not in screen
