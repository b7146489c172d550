"""Make text that came from outside safe to print on a terminal.

Log lines, HELO names, process command lines and file names are written by
strangers.  Before any of it reaches a terminal, escape sequences (CSI, OSC,
DCS, ...) and every other C0/C1 control character are removed; what remains
is plain text.  (Rich markup is a UI concern: widgets wrap this in ``Text``.)
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI ... final, OSC/DCS/SOS/PM/APC ... (BEL | ST), and 2-char escapes.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]            # CSI
  | \x1b[\]PX^_].*?(?:\x07|\x1b\\|$)  # OSC, DCS, SOS, PM, APC up to BEL or ST
  | \x9b[0-?]*[ -/]*[@-~]              # 8-bit CSI
  | [\x90\x9d\x98\x9e\x9f].*?(?:\x07|\x9c|$)  # 8-bit string introducers
  | \x1b[ -/]*[0-~]?                   # any other escape
    """,
    re.VERBOSE | re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(text: str, *, tabs: bool = True) -> str:
    """Remove escape sequences and control characters; tabs become spaces."""
    if tabs:
        text = text.replace("\t", " ")
    if "\x1b" in text or any("\x80" <= c <= "\x9f" for c in text):
        text = _ESCAPES.sub("", text)
    return _CONTROLS.sub("", text)


def clip(text: str, width: int) -> str:
    """Shorten to ``width`` characters with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
