"""The terminal behind the live screen: is output backed up (a slow link)?"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios

LOW_BANDWIDTH_FRAME = 5.0  # seconds between redraws with --low-bandwidth
BACKLOG_LIMIT = 16384  # bytes waiting in a tty's output queue before frames are dropped
QUEUED_FRAMES = 1  # frames waiting in Textual's writer queue before frames are dropped


def terminal_backlog() -> int:
    """Bytes written to the terminal that it has not taken yet (TIOCOUTQ); 0 when unknown."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else -1  # Textual draws on stderr
        if fd < 0 or not os.isatty(fd):
            return 0
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except (OSError, ValueError, AttributeError):
        return 0


SWITCH_INTERVAL = 0.001  # s (CPython's default is 0.005)
