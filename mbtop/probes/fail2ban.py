"""fail2ban's Postfix jails, when fail2ban runs: how many are banned now and which addresses."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from mbtop import syscmd

TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Jail:
    name: str
    currently_failed: int
    total_failed: int
    currently_banned: int
    total_banned: int
    banned: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Fail2ban:
    running: bool
    jails: tuple[Jail, ...]
    error: str | None = None  # why nothing could be read (not installed, not running, no permission)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return syscmd.run(["fail2ban-client", *args], timeout=TIMEOUT, text=True)


def _number(text: str, label: str) -> int:
    m = re.search(rf"{label}:\s*(\d+)", text)
    return int(m.group(1)) if m else 0


def parse_status(name: str, text: str) -> Jail:
    m = re.search(r"Banned IP list:\s*(.*)", text)
    banned = tuple(m.group(1).split()) if m else ()
    return Jail(
        name,
        _number(text, "Currently failed"),
        _number(text, "Total failed"),
        _number(text, "Currently banned"),
        _number(text, "Total banned"),
        banned,
    )


def probe(match: str = "postfix") -> Fail2ban:
    """The jails whose name contains ``match``; never raises."""
    if syscmd.which("fail2ban-client") is None:
        return Fail2ban(False, (), "fail2ban is not installed")
    try:
        out = _run("status")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Fail2ban(False, (), f"fail2ban-client: {exc}")
    if out.returncode != 0:
        why = (out.stderr or out.stdout).strip().splitlines()
        return Fail2ban(False, (), why[-1] if why else "fail2ban is not running")
    m = re.search(r"Jail list:\s*(.*)", out.stdout)
    names = [n.strip() for n in m.group(1).split(",")] if m else []
    jails = []
    for name in names:
        if match not in name:
            continue
        try:
            st = _run("status", name)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if st.returncode == 0:
            jails.append(parse_status(name, st.stdout))
    return Fail2ban(True, tuple(jails))
