"""The real `mbtop web` command off loopback, in a private network namespace with a dummy
interface (a veth pair, 192.0.2.1): refused without TLS; with [web] cert and key it serves https, and still
wants the token. The client (curl) runs in the same namespace."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.netns import Netns, write_config

ADDR = "192.0.2.1"


@pytest.fixture
def public_ns(ns: Netns) -> Netns:
    for cmd in (
        ("ip", "link", "add", "mbweb", "type", "veth", "peer", "name", "mbweb-peer"),
        ("ip", "addr", "add", f"{ADDR}/24", "dev", "mbweb"),
        ("ip", "link", "set", "mbweb", "up"),
        ("ip", "link", "set", "mbweb-peer", "up"),
    ):
        ns.run(*cmd)
    return ns


def self_signed(folder: Path, key_mode: int = 0o600) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ADDR))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "web.crt", folder / "web.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(key_mode)
    return cert_path, key_path


def listening(ns: Netns) -> str:
    return ns.run("ss", "-Htln").stdout


def test_off_loopback_without_tls_is_refused_and_nothing_listens(public_ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "")
    out = public_ns.mbtop("web", "--config", str(cfg), "--listen", f"{ADDR}:8443")
    assert out.returncode == 2, out.stderr
    assert "without TLS" in out.stderr and "ssh -L" in out.stderr
    assert listening(public_ns) == ""


def test_a_key_others_can_read_is_refused(public_ns: Netns, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, key_mode=0o644)
    cfg = write_config(tmp_path / "c.toml", f'[web]\ncert = "{cert}"\nkey = "{key}"\n')
    out = public_ns.mbtop("web", "--config", str(cfg), "--listen", f"{ADDR}:8443")
    assert out.returncode == 2 and "chmod 600" in out.stderr, out.stderr
    assert listening(public_ns) == ""


def test_off_loopback_with_tls_it_serves_https_and_still_wants_the_token(public_ns: Netns, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    cfg = write_config(tmp_path / "c.toml", f'[web]\ncert = "{cert}"\nkey = "{key}"\nmax_sessions = 2\n')
    port = random.randint(20000, 29999)
    log = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(
        public_ns.argv(sys.executable, "-m", "mbtop", "web", "--config", str(cfg), "--listen", f"{ADDR}:{port}"),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = "".join(proc.stdout.readline() for _ in range(3))
        found = re.search(rf"https://{re.escape(ADDR)}:{port}/\?token=([\w-]{{40,}})", printed)
        assert found, printed
        token = found.group(1)
        token_file = Path(f"/run/mbtop/web-{port}.token")
        assert token_file.read_text().strip() == token
        st = os.lstat(token_file)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
        assert stat.S_IMODE(os.stat("/run/mbtop").st_mode) == 0o700

        def curl(path: str) -> str:
            argv = ("curl", "-sk", "-o", "/dev/null", "-D", "-", f"https://{ADDR}:{port}{path}")
            return public_ns.run(*argv, check=False).stdout

        assert curl("/").startswith("HTTP/1.1 401")
        assert curl("/ws").startswith("HTTP/1.1 401")
        assert curl("/?token=nope").startswith("HTTP/1.1 403")
        answer = curl(f"/?token={token}")
        assert answer.startswith("HTTP/1.1 303")
        assert re.search(r"(?im)^set-cookie: .*; Secure", answer), answer
        plain = public_ns.run(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"http://{ADDR}:{port}/", check=False
        )
        assert plain.stdout != "200"  # no plain http on the TLS port
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
        log.close()
    assert code == 0
    said = (tmp_path / "stderr").read_text()
    assert "GET / 303" in said and "GET /ws 401" in said, said
    assert token not in said  # the first visit's ?token= is not logged
    deadline = time.monotonic() + 5
    while token_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not token_file.exists()  # the token goes with the server
