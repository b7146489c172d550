"""Vitals on the real system: a small tmpfs mounted (in a private mount namespace) where MariaDB's
data directory is, filled past 80 %, raises the disk finding; an expired certificate configured in
nginx and a near-expiry one configured in Postfix (master.cf) raise theirs, read from `nginx -T`
and `postconf` (in a private mount namespace too: the stack's files are never changed)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import stack as st
from tests.support.netns import REPO

MBTOP = f"{sys.executable} -m mbtop snapshot --json --sample 0 --no-health --no-firewall"


def _root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("vitals tests need root (mount, the stack's config)")
        pytest.skip("needs root")


def _in_private_mounts(script: str) -> dict:
    out = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("{") :])


def _fs(doc: dict, mount: str) -> dict:
    (fs,) = [f for f in doc["vitals"]["filesystems"] if f["mount"] == mount]
    return fs


def _findings(doc: dict, path: str) -> dict[str, str]:
    return {f["code"]: f["severity"] for f in doc["findings"] if f["path"] == path}


def test_small_filesystem_filled_past_80_percent_raises_disk_and_inode_findings() -> None:
    _root()
    mount = "/var/lib/mysql"  # MariaDB's data directory (my_print_defaults names no other)
    setup = f"mount -t tmpfs -o size=4m,nr_inodes=100 mbtop-test {mount}\n"
    empty = _in_private_mounts(setup + MBTOP)
    fs = _fs(empty, mount)
    assert fs["path_roles"] == {"mariadb": mount} and fs["free_ratio"] == 1.0
    assert _findings(empty, mount) == {}
    # 3.4 of 4 MiB (85 % used, 15 % free) and 95 of 100 inodes.
    fill = (
        f"dd if=/dev/zero of={mount}/fill bs=64k count=54 status=none\n"
        f"for i in $(seq 1 93); do : > {mount}/f$i; done\n"
        f"df -B1 --output=avail,iavail {mount} >&2\n"
    )
    full = _in_private_mounts(setup + fill + MBTOP)
    fs = _fs(full, mount)
    assert 0.05 < fs["free_ratio"] < 0.2 and fs["free_inodes_ratio"] < 0.1
    assert _findings(full, mount) == {"disk-low": "warning", "inodes-low": "warning"}
    assert full["status"] in ("warning", "critical")


def _cert(path: Path, days: float) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, path.stem)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(path.with_suffix(".key"), 0o600)


def test_expired_and_near_expiry_certificates_raise_their_findings(tmp_path: Path) -> None:
    """An expired certificate in an nginx server block and a near-expiry one in Postfix's master.cf
    (the submission service), in copies of /etc/nginx and /etc/postfix bind-mounted over the real
    ones in a private mount namespace: `nginx -T` and `postconf` read them there, the stack's own
    files and daemons are never touched (no lock needed)."""
    _root()
    if not (Path("/etc/nginx/nginx.conf").exists() and Path("/etc/postfix/main.cf").exists()):
        pytest.fail("nginx and Postfix are installed by scripts/stack install")
    os.chmod(tmp_path, 0o755)
    certs = tmp_path / "certs"
    certs.mkdir()
    expired, near = certs / "expired.crt", certs / "near.crt"
    _cert(expired, -3)
    _cert(near, 10.5)
    nginx, postfix = tmp_path / "nginx", tmp_path / "postfix"
    shutil.copytree("/etc/nginx", nginx, symlinks=True)
    shutil.copytree("/etc/postfix", postfix, symlinks=True)
    site = nginx / "sites-enabled" / "mbtop-test-expired"
    site.unlink(missing_ok=True)
    site.write_text(
        "server {\n    listen 127.0.0.1:8443 ssl;\n"
        f"    ssl_certificate {expired};\n    ssl_certificate_key {expired.with_suffix('.key')};\n}}\n"
    )
    subprocess.run(["postconf", "-c", str(postfix), "-P", f"submission/inet/smtpd_tls_cert_file={near}"], check=True)
    doc = _in_private_mounts(f"mount --bind {nginx} /etc/nginx\nmount --bind {postfix} /etc/postfix\n" + MBTOP)
    certs_seen = {c["path"]: c for c in doc["vitals"]["certificates"]}
    assert certs_seen[str(expired)]["used_by"] == ["nginx"] and certs_seen[str(expired)]["days_left"] == -3
    assert certs_seen[str(near)]["used_by"] == ["postfix submission/inet smtpd_tls_cert_file"]
    assert certs_seen[str(near)]["days_left"] == 10
    assert _findings(doc, str(expired)) == {"certificate-file-expired": "critical"}
    assert _findings(doc, str(near)) == {"certificate-file-expiring": "warning"}
    assert doc["status"] == "critical"
    # The stack's own certificate (a year) is there too and raises nothing.
    assert "/etc/nginx/ssl/mailborder.crt" in certs_seen
    assert _findings(doc, "/etc/nginx/ssl/mailborder.crt") == {}
    # Outside the namespace, the real config: neither file is named.
    assert not {str(expired), str(near)} & {c["path"] for c in st.snapshot()["vitals"]["certificates"]}
