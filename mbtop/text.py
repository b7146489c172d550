"""Make text that came from outside safe to print on a terminal.

Log lines, HELO names, process command lines and file names are written by
strangers.  Before any of it reaches a terminal, escape sequences (CSI, OSC,
DCS, ...) and every other C0/C1 control character are removed, and so are the
invisible format characters that make text display as something else: bidi
overrides, embeddings, isolates and marks (U+202A–E, U+2066–9, U+200E/F),
zero-width characters (U+200B–D, U+2060, U+FEFF), soft hyphens, tags, and
the Hangul fillers that render as blanks; what remains is plain text.  (Rich
markup is a UI concern: widgets wrap this in ``Text``.)  JSON output keeps
outside text literal: it is escaped by the encoder, not cleaned.
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
# C0/C1 controls (tab handled apart), then Unicode's format characters (category Cf, all of them as
# of Unicode 15: a test compares) and the invisible fillers U+034F, U+115F, U+1160, U+3164, U+FFA0.
_CONTROLS = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f"
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)


def clean(text: str, *, tabs: bool = True) -> str:
    """Remove escape sequences, control characters and invisible format characters; tabs become spaces."""
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
