"""The README's common tasks, as examples at the end of ``mbtop --help`` and of each command's help.

The same lines are in the README under "Common tasks" (a test keeps the two the same).
"""

from __future__ import annotations

import argparse

PORT_IN_USE = (
    "port already in use (finding unexpected-owner):",
    [
        "sudo mbtop snapshot                       # which process holds the port, and whose it should be",
        "sudo mbtop free-port 25 --start --dry-run # the plan: stop the squatter, start Postfix",
        "sudo mbtop free-port 25 --start",
    ],
)
SOCKET_DENIED = (
    "socket permission denied (findings socket-owner, socket-mode):",
    [
        "sudo mbtop snapshot                       # each socket's owner, group and mode against the reference",
        "sudo mbtop fix-perms --dry-run            # the plan for every wrong socket",
        "sudo mbtop fix-perms /var/run/php/mailborder.sock",
    ],
)
FLOOD = (
    "is this a flood?",
    [
        "sudo mbtop snapshot --sample 10           # connection rates over 10 s against the thresholds",
        "sudo mbtop logs /var/log/mail.log --summary  # top clients by connections and rejects",
        "sudo mbtop block 203.0.113.7 --dry-run    # the firewall rule it would add",
    ],
)
CONFIG = (
    "a config for this gateway:",
    [
        "mbtop config --print-default | sudo tee /etc/mbtop/config.toml",
        "sudo mbtop config --check                 # the rules mbtop starts with",
    ],
)
WEB = (
    "the live screen in a browser:",
    [
        "sudo mbtop web                            # prints http://127.0.0.1:8765/?token=...",
        "ssh -L 8765:127.0.0.1:8765 root@gateway   # on your desk; then open the printed address there",
    ],
)
ALL = (PORT_IN_USE, SOCKET_DENIED, FLOOD, WEB, CONFIG)
BY_COMMAND = {
    "snapshot": (PORT_IN_USE, SOCKET_DENIED, FLOOD),
    "check": (PORT_IN_USE, SOCKET_DENIED, FLOOD),
    "record": (FLOOD,),
    "logs": (FLOOD,),
    "firewall": (FLOOD,),
    "restart": (PORT_IN_USE,),
    "free-port": (PORT_IN_USE,),
    "fix-perms": (SOCKET_DENIED,),
    "block": (FLOOD,),
    "unblock": (FLOOD,),
    "config": (CONFIG,),
    "web": (WEB,),
}


def text(tasks: tuple[tuple[str, list[str]], ...]) -> str:
    out = ["examples (README, Common tasks):"]
    for title, lines in tasks:
        out.append(f"  {title}")
        out.extend(f"    {line}" for line in lines)
    return "\n".join(out)


def attach(parser: argparse.ArgumentParser, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """End the main help and every command's help with its examples (kept as written)."""
    parser.epilog = text(ALL)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for name, child in sub.choices.items():
        child.epilog = text(BY_COMMAND.get(name, ALL))
        child.formatter_class = argparse.RawDescriptionHelpFormatter
