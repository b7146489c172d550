"""nginx access (combined and main) and error log lines."""

from __future__ import annotations

from pathlib import Path

from mbtop.logs import nginx

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
ACCESS = (FIX / "nginx-access.log").read_text().splitlines()
ERRORS = (FIX / "nginx-error.log").read_text().splitlines()


def test_combined_and_main_formats() -> None:
    a = nginx.parse(ACCESS[0], 1)
    assert (a.kind, a.client_ip, a.method, a.path, a.protocol, a.status, a.bytes) == (
        "access",
        "203.0.113.5",
        "GET",
        "/index.php?page=1",
        "HTTP/1.1",
        200,
        612,
    )
    assert a.timestamp == "2026-11-25T19:40:02+00:00" and a.referer == "https://mailborder.example.com/"
    assert a.user_agent == "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
    b = nginx.parse(ACCESS[1], 2)
    assert b.client_ip == "2001:db8::7" and b.method == "POST" and b.referer is None and b.timestamp.endswith("+01:00")
    main = nginx.parse(ACCESS[2], 3)  # "main" adds $http_x_forwarded_for: not the client
    assert main.kind == "access" and main.client_ip == "198.51.100.9" and main.status == 502


def test_garbage_requests_are_kept_not_misparsed() -> None:
    tls = nginx.parse(ACCESS[3], 4)
    assert tls.kind == "access" and tls.method is None and tls.path is None and tls.status == 400
    assert tls.fields["request"].startswith("\\x16\\x03")
    quoted = nginx.parse(ACCESS[4], 5)
    assert quoted.path == "/a\\x22b" and quoted.user_agent == "evil \\x22agent\\x22"
    dash = nginx.parse(ACCESS[5], 6)
    assert dash.kind == "access" and dash.method is None and dash.bytes == 0


def test_error_log_upstream_socket_and_client() -> None:
    e = nginx.parse(ERRORS[0], 1)
    assert e.kind == "error" and e.fields["level"] == "crit" and e.client_ip == "203.0.113.5"
    assert e.fields["socket"] == "/var/run/php/mailborder.sock"
    assert e.fields["upstream"] == "fastcgi://unix:/var/run/php/mailborder.sock:" and e.path == "/index.php"
    assert e.message.endswith("while connecting to upstream") and e.timestamp == "2026-11-25T19:40:02"


def test_error_client_is_taken_from_nginx_context_not_from_the_message() -> None:
    e = nginx.parse(ERRORS[1], 2)
    assert e.client_ip == "198.51.100.9"  # the forged ", client: 6.6.6.6" inside the path is text
    assert "6.6.6.6" in e.message


def test_error_without_context_and_other() -> None:
    e = nginx.parse(ERRORS[2], 3)
    assert e.kind == "error" and e.client_ip is None and e.fields["level"] == "notice"
    assert nginx.parse("complete nonsense", 9).kind == "other"
