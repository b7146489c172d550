"""The types and pure helpers a face needs, from one place below it.

The live screen may not import ``mbtop.probes`` or ``mbtop.logs`` (import contract in pyproject):
it reads frames, and these are what frames are made of, plus the log windows it keeps.
"""

from __future__ import annotations

from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import ERROR_LOG_OFFSET, Frame, LogLines
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.ports import mail_event_port, socket_errors, web_event_ports
from mbtop.logs.window import Window, mail_tally, web_tally
from mbtop.probes import queue as queue_probe
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.health import Health
from mbtop.probes.sample import Sample
from mbtop.probes.vitals import Vitals

__all__ = [
    "ERROR_LOG_OFFSET",
    "Fail2ban",
    "Frame",
    "Health",
    "LogBatch",
    "LogLines",
    "MailEvent",
    "Sample",
    "Vitals",
    "WebEvent",
    "Window",
    "mail_event_port",
    "mail_tally",
    "queue_probe",
    "socket_errors",
    "web_event_ports",
    "web_tally",
]
