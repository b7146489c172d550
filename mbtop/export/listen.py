"""Where ``/metrics`` listens: the address syntax, the default port, what counts as loopback.

Light on purpose (no prometheus_client): the config and the CLI's parser use it.
"""

from __future__ import annotations

import ipaddress

# Not in Prometheus' default port allocations (README, Metrics): 9100-9999 is full, and 10031,
# 10032 and 10050 are Mailborder's own.
DEFAULT_PORT = 10125
LOOPBACK = "127.0.0.1"


class ListenError(ValueError):
    """A listen address that cannot be used; the message says why, for a person."""


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT``, ``:PORT``, ``ADDR:PORT`` or ``[V6ADDR]:PORT`` (an IP address, or localhost) to
    (address, port); no address means loopback."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ListenError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:{DEFAULT_PORT}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ListenError(f"{text!r}: the port must be a number from 1 to 65535 (e.g. {LOOPBACK}:{DEFAULT_PORT})")
    if host in ("", "localhost"):
        host = LOOPBACK
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ListenError(f"{text!r}: the address must be an IP address (or localhost), not a name") from None
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback
