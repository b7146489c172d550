#!/usr/bin/env python3
"""Generate realistic, deterministic Postfix and nginx logs for the benchmarks.

python bench/gen_logs.py mail OUT LINES     # a Postfix mail.log
python bench/gen_logs.py nginx OUT LINES    # an nginx combined access log
"""

from __future__ import annotations

import random
import sys

HOST = "mailborder"


def _ip(r: random.Random) -> str:
    # A skewed population: a few busy senders, a long tail.
    if r.random() < 0.3:
        return f"198.51.100.{r.randint(1, 20)}"
    return f"203.0.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _qid(r: random.Random) -> str:
    return "".join(r.choice("0123456789ABCDEF") for _ in range(11))


def mail(out: str, lines: int) -> None:
    r = random.Random(25)
    n = 0
    sec = 0
    with open(out, "w") as fh:

        def w(prog: str, msg: str) -> None:
            nonlocal n, sec
            sec += r.random() < 0.3
            h, m, s = (sec // 3600) % 24, (sec // 60) % 60, sec % 60
            fh.write(
                f"Nov {1 + (sec // 86400) % 28:2d} {h:02d}:{m:02d}:{s:02d} {HOST} {prog}[{r.randint(1000, 65000)}]: {msg}\n"
            )
            n += 1

        while n < lines:
            ip = _ip(r)
            name = r.choice(["unknown", f"mail{r.randint(1, 99)}.example.net", "mx.example.org"])
            client = f"{name}[{ip}]"
            w("postfix/postscreen", f"CONNECT from [{ip}]:{r.randint(1024, 65535)} to [192.0.2.1]:25")
            roll = r.random()
            if roll < 0.1:
                w(
                    "postfix/postscreen",
                    f"PREGREET 11 after 0.{r.randint(1, 9)} from [{ip}]:{r.randint(1024, 65535)}: EHLO x\\r\\n",
                )
                w("postfix/postscreen", f"DISCONNECT [{ip}]:{r.randint(1024, 65535)}")
                continue
            w("postfix/postscreen", f"PASS OLD [{ip}]:{r.randint(1024, 65535)}")
            w("postfix/smtpd", f"connect from {client}")
            if r.random() < 0.6:  # most senders use STARTTLS (smtpd_tls_loglevel = 1 logs the session)
                w(
                    "postfix/smtpd",
                    f"Anonymous TLS connection established from {client}: TLSv1.3 with cipher "
                    "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) "
                    "server-digest SHA256",
                )
            bot = r.random()
            if bot < 0.004:  # the signs of bots, rare in a day's log
                w(
                    "postfix/smtpd",
                    [
                        f"improper command pipelining after CONNECT from {client}: EHLO x\\r\\nMAIL FROM:<a@b>\\r\\n",
                        f"warning: non-SMTP command from {client}: GET / HTTP/1.1",
                        f"warning: Connection rate limit exceeded: 31 from {client} for service smtp",
                        f"warning: hostname {name} does not resolve to address {ip}: Name or service not known",
                    ][int(bot * 1000)],
                )
            if roll < 0.3:
                w(
                    "postfix/smtpd",
                    f"NOQUEUE: reject: RCPT from {client}: 550 5.1.1 <u{r.randint(1, 500)}@example.com>: "
                    f"Recipient address rejected: User unknown in virtual mailbox table; from=<s@example.net> "
                    f"to=<u@example.com> proto=ESMTP helo=<[{_ip(r)}]>",
                )
                w("postfix/smtpd", f"disconnect from {client} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")
                continue
            if roll < 0.35:
                w("postfix/smtpd", f"warning: {client}: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
                w("postfix/smtpd", f"lost connection after AUTH from {client}")
                w("postfix/smtpd", f"disconnect from {client} ehlo=1 auth=0/1 commands=1/2")
                continue
            q = _qid(r)
            w("postfix/smtpd", f"{q}: client={client}")
            w("postfix/cleanup", f"{q}: message-id=<{_qid(r)}@example.net>")
            w(
                "postfix/qmgr",
                f"{q}: from=<sender{r.randint(1, 900)}@example.net>, size={r.randint(900, 90000)}, nrcpt=1 (queue active)",
            )
            w("postfix/smtpd", f"disconnect from {client} ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5")
            status = r.choices(["sent", "deferred", "bounced"], [90, 7, 3])[0]
            relay = "mb-filter[127.0.0.1]:10031" if status == "sent" else f"mx.example.com[{_ip(r)}]:25"
            w(
                "postfix/smtp",
                f"{q}: to=<user{r.randint(1, 300)}@example.com>, relay={relay}, delay=0.{r.randint(10, 99)}, "
                f"delays=0.01/0/0.02/0.3, dsn={'2.0.0' if status == 'sent' else '4.4.1'}, status={status} (250 2.0.0 Ok)",
            )
            if status != "deferred":
                w("postfix/qmgr", f"{q}: removed")


def nginx(out: str, lines: int) -> None:
    r = random.Random(80)
    paths = [
        "/",
        "/index.php",
        "/login.php",
        "/rspamd/",
        "/static/app.css",
        "/static/app.js",
        "/api/status",
        "/favicon.ico",
    ]
    agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "curl/7.88.1", "Mozilla/5.0 (compatible; bot/1.0)"]
    with open(out, "w") as fh:
        for i in range(lines):
            sec = i // 20
            status = r.choices([200, 301, 302, 304, 404, 499, 502], [70, 5, 5, 10, 6, 2, 2])[0]
            fh.write(
                f"{_ip(r)} - - [25/Nov/2026:{(sec // 3600) % 24:02d}:{(sec // 60) % 60:02d}:{sec % 60:02d} +0000] "
                f'"{r.choice(["GET", "GET", "POST"])} {r.choice(paths)}?id={r.randint(1, 99)} HTTP/1.1" {status} '
                f'{r.randint(0, 50000)} "https://mailborder.example.com/" "{r.choice(agents)}"\n'
            )


if __name__ == "__main__":
    kind, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    (mail if kind == "mail" else nginx)(path, count)
