"""Textual's Footer, rebuilt only when the key bindings it shows change.

Textual's Footer removes and re-mounts every key on each focus change (every tab switch), which
costs a layout of the whole screen on the path from a key press to the screen. The keys shown
rarely change, so the rebuild is skipped when they are the same as the last time.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple[Any, ...] | None = None

    def _signature(self, screen: Screen[Any]) -> tuple[Any, ...]:
        return tuple(
            (binding.key, binding.action, binding.description, binding.show, enabled, tooltip)
            for _node, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show or binding.action == "command_palette"
        )

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            signature = self._signature(screen)
            if signature == self._shown:
                self._bindings_ready = True
                return
            self._shown = signature
        super().bindings_changed(screen)
