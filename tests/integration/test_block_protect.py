"""`block` never cuts off the host or the people on it: every address of every interface (up or
not, firewall read or not), every current SSH peer from the socket table; it uses the backend in
force (ufw when ufw is active) and refuses networks broader than /8 or /32 without --force.
Everything runs in the two private namespaces of tests/support/fwlab.py, as --dry-run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_root_netns
from tests.support.fwlab import OUT4, OUT4B, SRV4, SRV6, Lab, fw_lab

HOLD = """
import ctypes, socket, sys
role, name, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)
if role == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen()
    print("listening", flush=True)
    conn, peer = s.accept()
    print("accepted", peer[0], flush=True)
else:
    c = socket.socket()
    c.bind((sys.argv[5], 0))
    c.connect((addr, port))
    print("connected", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root_netns()
    with fw_lab() as lab_:
        yield lab_


@pytest.fixture
def cfg() -> Iterator[str]:
    path = Path(tempfile.mkdtemp(prefix="mbtop-blk-", dir="/run"))
    os.chmod(path, 0o700)
    conf = path / "c.toml"
    conf.write_text(f'audit_log = "{path}/a.log"\n')
    os.chmod(conf, 0o600)
    try:
        yield str(conf)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def dry(lab: Lab, cfg: str, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return lab.mbtop("block", target, "--dry-run", "--no-health", "--config", cfg, *extra)


def test_every_address_of_the_host_is_protected_also_down_and_without_the_firewall(lab: Lab, cfg: str) -> None:
    lab.srv_sh(
        "ip link add mbdown type veth peer name mbdown-peer && ip addr add 10.99.0.1/24 dev mbdown && "
        "ip -6 addr add fd99::1/64 dev mbdown nodad"
    )  # mbdown stays down
    assert "state DOWN" in lab.srv_sh("ip link show mbdown").stdout
    assert "fd99::1" in lab.srv_sh("ip -6 addr show dev mbdown").stdout
    for target in (SRV4, f"{SRV4}/24", SRV6, "10.99.0.1", "10.99.0.0/16", "fd99::1", "fd99::/64"):
        for extra in (("--no-firewall",), ()):
            out = dry(lab, cfg, target, *extra)
            assert out.returncode == 1 and "an address of this host" in out.stdout, (target, extra, out.stdout)
    assert dry(lab, cfg, "10.98.0.1", "--no-firewall").returncode == 0  # not the host's


def test_ufw_is_the_backend_when_it_is_active_whether_or_not_the_firewall_was_read(lab: Lab, cfg: str) -> None:
    lab.srv_sh("ufw --force reset >/dev/null; ufw default deny incoming; ufw allow 80/tcp; ufw --force enable")
    for extra in (("--no-firewall",), ()):
        out = dry(lab, cfg, OUT4, *extra)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"block {OUT4} with ufw" in out.stdout and f"ufw prepend deny from {OUT4}" in out.stdout
    lab.srv_sh("ufw --force disable >/dev/null")
    out = dry(lab, cfg, OUT4, "--no-firewall")
    assert "with ufw" not in out.stdout, out.stdout


@pytest.mark.parametrize(
    ("target", "too_broad"),
    [("64.0.0.0/7", True), ("64.0.0.0/8", False), ("2001:db8::/31", True), ("2001:db8::/32", False)],
)
def test_networks_broader_than_8_or_32_need_force(lab: Lab, cfg: str, target: str, too_broad: bool) -> None:
    out = dry(lab, cfg, target, "--no-firewall")
    if too_broad:
        assert out.returncode == 1 and "give --force" in out.stdout, out.stdout
        forced = dry(lab, cfg, target, "--no-firewall", "--force")
        assert forced.returncode == 0 and "REFUSED" not in forced.stdout, forced.stdout
    else:
        assert out.returncode == 0 and "REFUSED" not in out.stdout, out.stdout


def test_every_current_ssh_peer_is_protected(lab: Lab, cfg: str) -> None:
    """A stand-in sshd (a process named sshd) holding a connection from the client's second address:
    no SSH_CONNECTION anywhere (as after re-attaching tmux), the socket table says who is on."""
    server = subprocess.Popen(
        [*lab.srv_argv(), sys.executable, "-c", HOLD, "server", "sshd", SRV4, "22"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    client = None
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        client = subprocess.Popen(
            ["ip", "netns", "exec", lab.cli, sys.executable, "-c", HOLD, "client", "ssh", SRV4, "22", OUT4B],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout.readline().split() == ["accepted", OUT4B]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
        assert "SSH_CONNECTION" not in env
        for target in (OUT4B, f"{OUT4B}/30"):
            out = dry(lab, cfg, target, "--no-firewall")
            assert out.returncode == 1 and "an SSH session to this host" in out.stdout, out.stdout
        out = dry(lab, cfg, OUT4, "--no-firewall")  # another address of the same client network
        assert out.returncode == 0 and "REFUSED" not in out.stdout, out.stdout
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.kill()
                proc.wait()
