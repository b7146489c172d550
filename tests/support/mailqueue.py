"""Real deferred mail in a real Postfix: domains routed to a closed loopback port.

Two Postfix instances can hold it: the lab stack's own (``stack_instance``: its transport_maps is
changed for the time of the context — run under the stack lock — and restored), or a private
second instance (``private_instance``: its own configuration directory and spool under a
temporary directory, its own master with only unix-domain services, so it takes no port and
leaves the stack alone: no lock needed). Either way the mail it made is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import smtplib
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from tests.support import stack as st

DEAD_PORT = 2  # nothing listens there (checked): every delivery is "Connection refused"


@dataclass(frozen=True)
class Instance:
    config_dir: str | None  # None: the default instance (/etc/postfix), the stack's
    log: Path

    def argv(self, prog: str, *args: str) -> list[str]:
        """``prog`` for this instance (sendmail takes -C, the others -c)."""
        flag = "-C" if prog == "sendmail" else "-c"
        return [prog, *([flag, self.config_dir] if self.config_dir else []), *args]

    def mbtop_args(self) -> list[str]:
        return ["--postfix-config", self.config_dir] if self.config_dir else []


def _run(*argv: str, stdin: str | None = None) -> None:
    subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True, timeout=120)


def postqueue_j(pf: Instance) -> list[dict]:
    out = subprocess.run(pf.argv("postqueue", "-j"), capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in out.stdout.splitlines()]


def of(pf: Instance, domains: dict[str, object] | list[str]) -> list[dict]:
    """The queued messages with a recipient in one of ``domains``."""
    return [m for m in postqueue_j(pf) if any(r["address"].rsplit("@", 1)[-1] in domains for r in m["recipients"])]


def delete(pf: Instance, messages: list[dict]) -> None:
    ids = [m["queue_id"] for m in messages]
    if ids:
        _run(*pf.argv("postsuper", "-d", "-"), stdin="\n".join(ids) + "\n")


def routes(domains: list[str]) -> str:
    return "inline:{ " + ", ".join(f"{d}=smtp:[127.0.0.1]:{DEAD_PORT}" for d in domains) + " }"


@contextmanager
def private_instance(extra: dict[str, str] | None = None) -> Iterator[Instance]:
    """A second Postfix: config in TMP/etc, queue in TMP/spool, only unix services, its own log."""
    with tempfile.TemporaryDirectory(prefix="mbtop-postfix-") as tmp:
        root = Path(tmp)
        etc, spool = root / "etc", root / "spool"
        for d in (etc, spool, root / "data"):
            d.mkdir()
        for name in ("main.cf", "master.cf", "dynamicmaps.cf"):
            shutil.copy(f"/etc/postfix/{name}", etc / name)
        c = str(etc)
        _run("postconf", "-c", c, "-M#", "smtp/inet", "submission/inet")
        _run("postconf", "-c", c, "-F", "*/*/chroot = n")
        _run("postconf", "-c", c, "-X", "smtpd_milters", "non_smtpd_milters", "transport_maps")
        settings = {
            "queue_directory": str(spool),
            "data_directory": str(root / "data"),
            "maillog_file_prefixes": str(root),
            "maillog_file": str(root / "mail.log"),
            **(extra or {}),
        }
        _run("postconf", "-c", c, "-e", *(f"{k} = {v}" for k, v in settings.items()))
        os.chmod(root, 0o755)  # postfix and postdrop reach the spool under it
        _run("postfix", "-c", c, "set-permissions")
        _run("postfix", "-c", c, "start")
        try:
            yield Instance(c, root / "mail.log")
        finally:
            subprocess.run(["postfix", "-c", c, "stop"], capture_output=True, check=False, timeout=60)


@contextmanager
def stack_instance(domains: list[str]) -> Iterator[Instance]:
    """The lab stack's Postfix with ``domains`` routed to the dead port (under the stack lock)."""
    st.require_stack()
    had = subprocess.run(["postconf", "-n", "transport_maps"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["postconf", "-e", f"transport_maps = {routes(domains)}"], check=True)
    subprocess.run(["postfix", "reload"], capture_output=True, check=True)
    try:
        yield Instance(None, Path("/var/log/mail.log"))
    finally:
        if had:
            subprocess.run(["postconf", "-e", had], check=True)
        else:
            subprocess.run(["postconf", "-X", "transport_maps"], check=True)
        subprocess.run(["postfix", "reload"], capture_output=True, check=True)


def _message(sender: str, rcpts: list[str], n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(rcpts), f"mbtop queue test {n}"
    msg.set_content("queued by mbtop's tests: a domain routed to a closed port\n")
    return msg


@contextmanager
def deferred_mail(plan: dict[str, list[str | tuple[str, int]]], pf: Instance | None = None) -> Iterator[list[dict]]:
    """One message per sender listed under each domain ({domain: [sender or (sender, recipients), …]}),
    deferred for real; yields them (postqueue -j). ``pf`` None: the stack's Postfix (SMTP on
    127.0.0.1:25, under the lock); else that instance (sendmail -C)."""
    assert st.port_free(DEAD_PORT)
    total = sum(len(s) for s in plan.values())
    mail: list[tuple[str, list[str]]] = []
    for domain, senders in plan.items():
        for entry in senders:
            sender, count = entry if isinstance(entry, tuple) else (entry, 1)
            n = len(mail)
            mail.append((sender, [f"user{n}.{i}@{domain}" for i in range(count)]))
    with stack_instance(list(plan)) if pf is None else _same(pf) as inst:
        try:
            if inst.config_dir is None:
                with smtplib.SMTP("127.0.0.1", 25, timeout=30) as smtp:
                    for n, (sender, rcpts) in enumerate(mail):
                        smtp.send_message(_message(sender, rcpts, n))
            else:
                for n, (sender, rcpts) in enumerate(mail):
                    _run(*inst.argv("sendmail", "-f", sender, *rcpts), stdin=_message(sender, rcpts, n).as_string())
            st.wait_until(
                lambda: len([m for m in of(inst, list(plan)) if m["queue_name"] == "deferred"]) == total,
                90,
                what=f"{total} messages deferred",
            )
            yield of(inst, list(plan))
        finally:
            delete(inst, of(inst, list(plan)))


@contextmanager
def _same(pf: Instance) -> Iterator[Instance]:
    yield pf
