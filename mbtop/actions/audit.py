"""Audit lines for every action tried: JSON lines in the log and in syslog.

An action that runs gets a line when it starts (what, on what, by whom, the
plan's argvs; ``result`` "started") and one when it ends (``result`` "done" or
"failed", what each step said); both carry the same ``id``, and ``web_session`` when the action
came from a browser (``mbtop web``).  A killed mbtop
leaves the first.  A refused action gets one line ("refused").

The log (default ``/var/log/mbtop/actions.log``) is opened append-only without
following a link at its name; when running as root, every directory on its
path (as written and as resolved) must be root's and writable by nobody else,
or nothing is written there (the line still goes to syslog, and the caller is
told).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import secrets
import stat
import syslog
from pathlib import Path

from mbtop.actions.plan import Plan

DEFAULT_LOG = Path("/var/log/mbtop/actions.log")
# Set by `mbtop web` alone, in each browser session's mbtop: the audit line names that session.
WEB_SESSION_ENV = "MBTOP_WEB_SESSION"


def web_session() -> str | None:
    """The web session this mbtop serves (``mbtop web``), or None; only a hex id is believed."""
    value = os.environ.get(WEB_SESSION_ENV, "")
    if 8 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


def who() -> str:
    """The person behind the action: SUDO_USER when run through sudo, else the user."""
    sudo = os.environ.get("SUDO_USER")
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return f"{sudo} (as {name})" if sudo and sudo != name else name


def new_id() -> str:
    """Pairs an action's start line with its end line."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def line(plan: Plan, result: str, detail: str, action_id: str | None = None) -> str:
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "id": action_id or new_id(),
        "user": who(),
        "action": plan.action,
        "target": plan.target,
        "argv": plan.argvs(),
        "result": result,
        "detail": detail,
    }
    session = web_session()
    if session is not None:
        record["web_session"] = session
    return json.dumps(record, ensure_ascii=True)


def write(plan: Plan, result: str, detail: str, path: Path = DEFAULT_LOG, action_id: str | None = None) -> str | None:
    """Record the action; returns a problem to tell the operator, or None."""
    text = line(plan, result, detail, action_id)
    try:
        syslog.openlog("mbtop", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_NOTICE, text)
    except OSError:
        pass
    try:
        _append(path, text + "\n")
    except OSError as exc:
        return f"audit log {path}: {exc.strerror or exc} (the action is in syslog)"
    except ValueError as exc:
        return f"audit log {path}: {exc} (the action is in syslog)"
    return None


def check_chain(directory: Path) -> None:
    """Every directory from / to ``directory``, as written and as resolved, is root's and writable
    by nobody else (ValueError otherwise): no one but root can swap the log for something else."""
    chains = [Path(directory)]
    real = Path(os.path.realpath(directory))
    if real != chains[0]:
        chains.append(real)
    for chain in chains:
        for current in (*reversed(chain.parents), chain):
            st = os.lstat(current)
            if stat.S_ISLNK(st.st_mode):
                continue  # the link itself can only be changed by whoever can write its (checked) directory
            if not stat.S_ISDIR(st.st_mode):
                raise ValueError(f"{current} is not a directory")
            mode = stat.S_IMODE(st.st_mode)
            if st.st_uid != 0:
                raise ValueError(f"{current} is owned by uid {st.st_uid}, not root; not writing there")
            if mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise ValueError(f"{current} is writable by group or others (mode {mode:04o}); not writing there")


def _append(path: Path, text: str) -> None:
    parent = path.parent
    if os.geteuid() == 0:
        if not parent.exists():
            existing = next(p for p in parent.parents if p.exists())
            check_chain(existing)  # what is created under it is root's
            os.makedirs(parent, mode=0o750, exist_ok=True)
        check_chain(parent)
    elif not parent.is_dir():
        raise ValueError("its directory is not a directory")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_nlink != 1:
            raise ValueError("not a plain file")
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
