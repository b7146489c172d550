"""The shipped catalog is the reference document, as data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mbtop.catalog import CatalogError, apply_overrides, load_reference
from mbtop.config import ConfigError, check_trusted, from_data

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "ports-and-sockets-reference.txt"


@pytest.fixture(scope="module")
def text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_every_documented_port_is_in_the_catalog(text: str) -> None:
    cat = load_reference()
    documented = {int(n) for n in re.findall(r"^Port (\d+) ", text, re.M)}
    documented |= {int(n) for n in re.findall(r"^(\d{2,5}) \S", text, re.M)}  # table rows
    documented -= {22, 2222, 220}  # SSH is the operator's; "220 ... ESMTP" is a banner line
    assert documented == set(cat.tcp_ports)


def test_internal_ports_are_loopback_and_public_ports_public(text: str) -> None:
    cat = load_reference()
    internal = text.split("Internal Ports", 1)[1].split("Port 10031 - mb-filter", 1)[0]
    for number in re.findall(r"^(\d+) .* 127\.0\.0\.1 ", internal, re.M):
        spec = cat.port(int(number))
        assert spec is not None and spec.bind == "loopback", number
    for number in (25, 80, 443, 587, 465):
        spec = cat.port(number)
        assert spec is not None and spec.bind == "public"
    cluster = cat.port(10050)
    assert cluster is not None and cluster.cluster_only and cluster.firewall == "restricted"


def test_minimal_configuration_is_what_is_required(text: str) -> None:
    cat = load_reference()
    minimal = text.split("Minimal Configuration", 1)[1]
    public = {int(n) for n in re.findall(r"\d+", minimal.split("Internal:", 1)[0])}
    internal = {int(n) for n in re.findall(r"\d+", minimal.split("Internal:", 1)[1].split("Sockets:", 1)[0])}
    assert {p.port for p in cat.ports if p.required} == public | internal


def test_every_documented_socket_with_owner_group_mode(text: str) -> None:
    cat = load_reference()
    paths = re.findall(r"^Path: (/\S+)", text, re.M)
    assert sorted(paths) == sorted(s.path for s in cat.sockets)
    for path, owner, mode in re.findall(r"^Path: (/\S+) Owner: (\S+) Permissions: (\d+)", text, re.M):
        spec = next(s for s in cat.sockets if s.path == path)
        assert f"{spec.owner}:{spec.group}" == owner
        assert spec.mode == int(mode, 8)
    redis = next(s for s in cat.sockets if s.id == "redis")
    assert redis.mode == 0o770 and not redis.required and redis.alternative == 6379


def test_overrides_change_add_and_disable() -> None:
    cat = apply_overrides(
        load_reference(),
        {
            "ports": {
                "25": {"bind": "loopback"},
                "8080": {"service": "nginx", "bind": "public"},
                "465": {"disabled": True},
            },
            "sockets": {"php-fpm": {"path": "/run/php/other.sock", "mode": "0600"}},
            "services": {"redis": {"processes": ["redis-server", "keydb-server"]}},
        },
    )
    p25 = cat.port(25)
    assert p25 is not None and p25.bind == "loopback" and p25.service == "postfix"
    assert cat.port(8080) is not None and cat.port(465) is None
    assert cat.ports[-1].port == 8080  # added ports go last, the reference's order stays
    php = cat.socket("php-fpm")
    assert php is not None and php.path == "/run/php/other.sock" and php.mode == 0o600 and php.group == "www-data"
    assert cat.processes_for("redis") == ("redis-server", "keydb-server")


@pytest.mark.parametrize(
    "data",
    [
        {"ports": {"99999": {"service": "nginx"}}},
        {"ports": {"8080": {"service": "nosuch"}}},
        {"ports": {"25": {"bind": "everywhere"}}},
        {"sockets": {"x": {"path": "relative.sock", "service": "nginx"}}},
        {"sockets": {"php-fpm": {"mode": "rw-rw----"}}},
    ],
)
def test_bad_overrides_are_refused_with_a_reason(data: dict) -> None:
    with pytest.raises(CatalogError):
        apply_overrides(load_reference(), data)


def test_unknown_config_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        from_data({"prots": {}}, "x.toml")


def test_disabling_a_socket_drops_it_as_an_alternative() -> None:
    cfg = from_data({"sockets": {"clamd": {"disabled": True}}}, None)
    p = cfg.catalog.port(3310)
    assert p is not None and p.alternative is None


def test_untrusted_config_refused_only_as_root(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("")
    f.chmod(0o664)
    st = f.stat()
    check_trusted(f, st, euid=1000)  # a user may use their own file
    if st.st_uid == 0:
        with pytest.raises(ConfigError, match="writable by group or others"):
            check_trusted(f, st, euid=0)
        f.chmod(0o644)
        check_trusted(f, f.stat(), euid=0)
