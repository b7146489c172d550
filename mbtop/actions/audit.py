"""One audit line per action tried (run, failed or refused): a JSON line in the log and in syslog.

The log (default ``/var/log/mbtop/actions.log``) is opened append-only without
following links; a directory or file someone other than root could have
planted is not written to (the line still goes to syslog, and the caller is told).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pwd
import stat
import syslog
from pathlib import Path

from mbtop.actions.plan import Plan

DEFAULT_LOG = Path("/var/log/mbtop/actions.log")


def who() -> str:
    """The person behind the action: SUDO_USER when run through sudo, else the user."""
    sudo = os.environ.get("SUDO_USER")
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return f"{sudo} (as {name})" if sudo and sudo != name else name


def line(plan: Plan, result: str, detail: str) -> str:
    record = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "user": who(),
        "action": plan.action,
        "target": plan.target,
        "argv": plan.argvs(),
        "result": result,
        "detail": detail,
    }
    return json.dumps(record, ensure_ascii=True)


def write(plan: Plan, result: str, detail: str, path: Path = DEFAULT_LOG) -> str | None:
    """Record the action; returns a problem to tell the operator, or None."""
    text = line(plan, result, detail)
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


def _append(path: Path, text: str) -> None:
    parent = path.parent
    if os.geteuid() == 0 and not parent.exists():
        os.makedirs(parent, mode=0o750, exist_ok=True)
    st = os.lstat(parent)
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError("its directory is not a directory (a symlink?)")
    if os.geteuid() == 0 and (st.st_uid != 0 or stat.S_IMODE(st.st_mode) & (stat.S_IWGRP | stat.S_IWOTH)):
        raise ValueError("its directory is not root's alone; not writing there")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_nlink != 1:
            raise ValueError("not a plain file")
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
