"""Real deferred mail in the lab stack's Postfix: domains routed to a closed loopback port.

Changes Postfix's transport_maps for the time of the context (run it under the stack lock) and
leaves the queue without the mail it made and main.cf as it found it.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from tests.support import stack as st

DEAD_PORT = 2  # nothing listens there (checked): every delivery is "Connection refused"


def postqueue_j() -> list[dict]:
    out = subprocess.run(["postqueue", "-j"], capture_output=True, text=True, check=True, timeout=60)
    return [json.loads(line) for line in out.stdout.splitlines()]


def of(domains: dict[str, int] | list[str]) -> list[dict]:
    """The queued messages with a recipient in one of ``domains``."""
    return [m for m in postqueue_j() if any(r["address"].rsplit("@", 1)[-1] in domains for r in m["recipients"])]


def delete(messages: list[dict]) -> None:
    ids = [m["queue_id"] for m in messages]
    if ids:
        subprocess.run(
            ["postsuper", "-d", "-"], input="\n".join(ids) + "\n", text=True, capture_output=True, check=True
        )


@contextmanager
def deferred_mail(plan: dict[str, list[str]]) -> Iterator[list[dict]]:
    """Send one message per sender listed under each domain ({domain: [sender, …]}) and wait until
    every one is deferred; yields the messages (postqueue -j)."""
    st.require_stack()
    assert st.port_free(DEAD_PORT)
    had = subprocess.run(["postconf", "-n", "transport_maps"], capture_output=True, text=True).stdout.strip()
    routes = ", ".join(f"{d}=smtp:[127.0.0.1]:{DEAD_PORT}" for d in plan)
    subprocess.run(["postconf", "-e", f"transport_maps = inline:{{ {routes} }}"], check=True)
    subprocess.run(["postfix", "reload"], capture_output=True, check=True)
    total = sum(len(s) for s in plan.values())
    try:
        with smtplib.SMTP("127.0.0.1", 25, timeout=30) as smtp:
            n = 0
            for domain, senders in plan.items():
                for sender in senders:
                    msg = EmailMessage()
                    msg["From"], msg["To"], msg["Subject"] = sender, f"user{n}@{domain}", f"mbtop queue test {n}"
                    msg.set_content("queued by mbtop's tests: a domain routed to a closed port\n")
                    smtp.send_message(msg)
                    n += 1
        st.wait_until(
            lambda: len([m for m in of(list(plan)) if m["queue_name"] == "deferred"]) == total,
            90,
            what=f"{total} messages deferred",
        )
        yield of(list(plan))
    finally:
        delete(of(list(plan)))
        if had:
            subprocess.run(["postconf", "-e", had], check=True)
        else:
            subprocess.run(["postconf", "-X", "transport_maps"], check=True)
        subprocess.run(["postfix", "reload"], capture_output=True, check=True)
