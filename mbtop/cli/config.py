"""``mbtop config``: print the default config, or check one with the rules mbtop starts with.

Exit codes: 0 the file is good (or the default was printed), 2 it is refused (the reason on
stderr, the same words as at start-up), as a refused config is at start-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mbtop.config import DEFAULT_PATH, ConfigError, load
from mbtop.text import clean

EXIT_OK, EXIT_REFUSED = 0, 2

# Every setting at its default; the catalog changes are examples, commented out. `mbtop config
# --check` accepts this text as it is, and loading it gives the same settings as no file at all.
DEFAULT = """\
# /etc/mbtop/config.toml — mbtop's settings (mbtop config --print-default).
# Running as root, mbtop refuses this file unless it is a regular file (not a symlink) owned by
# root and writable by nobody else, at most 1 MiB. Check a change before using it:
#   sudo mbtop config --check /etc/mbtop/config.toml

read_only = false        # true: every action (restart, fix-perms, free-port, block) is refused
interval = 1.0           # seconds between refreshes of the live screen (0.2 to 3600)
low_bandwidth = false    # true: redraw at most every 5 s, 16 colours (as --low-bandwidth)
health_timeout = 3.0     # seconds a daemon has to answer its protocol (0.2 to 60)
health_every = 15.0      # seconds between protocol checks in the live screen (1 to 3600)
audit_log = "/var/log/mbtop/actions.log"   # every action's plan and result (absolute path)
# theme = "mbtop-dark"   # mbtop-dark, mbtop-light, mbtop-16, mbtop-high-contrast, or a file

# Flood thresholds; a threshold left unset follows the firewall's rate limit on port 25.
[flood]
# total_per_minute = 100 # new SMTP connections a minute, all sources
# source_per_30s = 6     # new connections from one address in 30 s
# concurrent = 80        # connections held at once
# syn_recv = 50          # half-open connections (SYN flood)
# queue_fill = 0.8       # share of a listener's accept queue in use

# The other gateways of this cluster: each must accept on mb-cluster's port (10050); one that does
# not is a cluster-peer-unreachable finding and mbtop_cluster_peer_up{peer} 0.
[cluster]
peers = []             # host names or addresses, e.g. ["gw2.example", "192.0.2.12"]
timeout = 3.0          # seconds a peer has to accept (0.2 to 60)
every = 30.0           # seconds between checks (1 to 3600)

# `mbtop agent`: the monitor without a screen, and its flight recorder.
[agent]
record = "/var/lib/mbtop/mbtop.db"   # the recording (absolute path), or false: record nothing
max_size = "256M"      # the recording's cap on disk; the oldest frames go first
keep = "7d"            # frames older than this are dropped (e.g. 12h, 7d)
interval = 1.0         # seconds between samples (0.2 to 3600)
listen = false         # Prometheus /metrics: "127.0.0.1:10125" (or --listen), or false: no metrics
listen_remote = false  # true: listen may be a non-loopback address (then use web_config)
# web_config = "/etc/mbtop/web-config.yml"   # TLS and basic auth for /metrics (exporter-toolkit format)

# `mbtop web`: the live screen in a browser (every session needs the token printed at start).
[web]
listen = "127.0.0.1:8765"  # ADDR:PORT; an address other than loopback needs cert and key (TLS)
max_sessions = 4       # browser sessions at once (each runs one mbtop); the next one is turned away
# cert = "/etc/mbtop/web.crt"   # PEM certificate for TLS (with key)
# key = "/etc/mbtop/web.key"    # its private key, readable by root alone

# The catalog (the Ports and Sockets Reference) changed field by field:
# [ports.25]
# bind = "public"
#
# [ports.8080]           # a new port needs its service
# service = "nginx"
# bind = "loopback"
# required = false
#
# [ports.465]
# disabled = true        # not used on this gateway
#
# [sockets.php-fpm]      # socket ids: php-fpm, mb-rpcd, clamd, redis
# path = "/run/php/php8.2-fpm-mailborder.sock"
#
# [services.redis]
# processes = ["redis-server", "keydb-server"]
"""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="print the default config, or check one with the rules mbtop starts with")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--print-default", action="store_true", help="print a commented default config")
    what.add_argument(
        "--check",
        nargs="?",
        const="",
        metavar="PATH",
        help=f"check PATH (default: --config, else {DEFAULT_PATH}) as start-up does: trust, size, TOML, every setting",
    )


def run(args: argparse.Namespace) -> int:
    if args.print_default:
        sys.stdout.write(DEFAULT)
        return EXIT_OK
    given: Path | None = Path(args.check) if args.check else args.config
    try:
        cfg = load(given)
    except ConfigError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_REFUSED
    where = cfg.source or f"{DEFAULT_PATH} (absent: the reference catalog alone)"
    ports, sockets = len(cfg.catalog.ports), len(cfg.catalog.sockets)
    print(f"{clean(where)}: OK ({ports} ports, {sockets} sockets, {len(cfg.catalog.services)} services)")
    return EXIT_OK
