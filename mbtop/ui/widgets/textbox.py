"""A Static for text that is redrawn every refresh but rarely changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TextBox(Static):
    """Given the text it already shows, it does nothing: no repaint, no layout of the screen.

    ``fixed``: the box's size does not depend on its text (one line, or a set height), so a new
    text is painted without a layout pass over the whole screen.
    """

    def __init__(self, *, fixed: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._fixed = fixed
        self._text: Text | None = None

    def put(self, text: Text) -> None:
        if text == self._text:
            return
        self._text = text
        self.update(text, layout=not self._fixed)
