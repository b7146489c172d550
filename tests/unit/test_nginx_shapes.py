"""nginx's real line shapes (tests/fixtures/logs/nginx-realworld.log): a leading virtual host, no
remote-user field, error lines inside a syslog or journald prefix, the error context's fields,
limit_req/limit_conn, the mail proxy, and mbtop's own health checks."""

from __future__ import annotations

from pathlib import Path

from mbtop.logs import nginx

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "nginx-realworld.log"
L = FIX.read_text().splitlines()


def test_access_with_a_virtual_host_first() -> None:
    a = nginx.parse(L[0], 1)
    assert (a.kind, a.client_ip, a.path, a.status, a.bytes) == ("access", "203.0.113.70", "/login.php", 200, 512)
    assert a.fields == {"vhost": "mail.example.com"}
    b = nginx.parse(L[1], 2)
    assert (b.client_ip, b.method, b.status) == ("2001:db8::71", "POST", 204)
    assert b.fields == {"vhost": "mail.example.com", "server_port": "443"}


def test_access_without_the_remote_user_field() -> None:
    c = nginx.parse(L[2], 3)
    assert (c.kind, c.client_ip, c.status, c.bytes, c.user_agent) == ("access", "203.0.113.72", 404, 153, "bot/1.0")


def test_the_health_check_agent_is_own_only_from_this_host() -> None:
    assert nginx.parse(L[3], 4).own is True  # loopback, mbtop-health
    assert nginx.parse(L[4], 5).own is False  # a stranger sending the same agent is traffic
    assert nginx.parse(L[0], 1).own is False


def test_limit_req_inside_a_syslog_prefix() -> None:
    e = nginx.parse(L[5], 6)
    assert (e.kind, e.client_ip, e.message, e.timestamp) == (
        "error",
        "203.0.113.74",
        "limiting requests",
        "2023-12-09T10:00:00",
    )
    assert {k: e.fields[k] for k in ("zone", "excess", "server", "request", "host", "referrer", "level")} == {
        "zone": "perip",
        "excess": "5.120",
        "server": "mail.example.com",
        "request": "POST /login.php HTTP/1.1",
        "host": "mail.example.com",
        "referrer": "https://mail.example.com/",
        "level": "error",
    }
    assert e.method == "POST" and e.path == "/login.php"


def test_limit_conn_in_a_remote_syslog_line_and_delaying_in_rfc3339() -> None:
    e = nginx.parse(L[6], 7)
    assert (e.client_ip, e.message, e.fields["zone"]) == ("203.0.113.75", "limiting connections", "addr")
    assert "excess" not in e.fields
    d = nginx.parse(L[11], 12)
    assert (d.client_ip, d.message, d.fields["excess"], d.fields["level"]) == (
        "203.0.113.80",
        "delaying request",
        "0.500",
        "warn",
    )


def test_a_client_injected_through_the_request_is_not_the_client() -> None:
    e = nginx.parse(L[7], 8)
    assert e.client_ip == "203.0.113.76"
    assert e.fields["request"] == "GET /a, client: 6.6.6.6, server: x HTTP/1.1"
    assert e.message == 'open() "/var/www/a" failed (2: No such file or directory)'
    quoted = nginx.parse(L[12], 13)  # nginx writes the request line raw: a '"' in it ends nothing
    assert quoted.client_ip == "203.0.113.81" and quoted.fields["host"] == "mail.example.com"
    assert quoted.fields["request"] == 'GET /b", client: 6.6.6.6, server: x HTTP/1.1'


def test_mail_proxy_lines() -> None:
    c = nginx.parse(L[8], 9)
    assert (c.kind, c.client_ip, c.fields["client_port"], c.fields["server"]) == (
        "error",
        "203.0.113.77",
        "51234",
        "0.0.0.0:25",
    )
    login = nginx.parse(L[9], 10)
    assert login.client_ip == "203.0.113.78" and login.fields["starttls"] == "yes"
    assert login.fields["server"] == "0.0.0.0:587" and login.fields["login"] == "alice"
    up = nginx.parse(L[10], 11)
    assert up.client_ip == "203.0.113.79" and up.fields["upstream"] == "127.0.0.1:143" and up.fields["login"] == "bob"


def test_every_line_recognised() -> None:
    assert [i for i, line in enumerate(L, 1) if nginx.parse(line, i).kind == "other"] == []


def test_many_injected_clients_do_not_stall() -> None:
    import time

    line = (
        "2023/12/09 10:00:02 [error] 1#1: *1 x"
        + ", client: 6.6.6.6, server: y" * 2000
        + ", client: 203.0.113.9, server: s"
    )
    start = time.perf_counter()
    e = nginx.parse(line[:65536], 1)
    assert time.perf_counter() - start < 0.05
    assert e.client_ip == "203.0.113.9"
