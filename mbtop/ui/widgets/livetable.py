"""A DataTable fed whole row sets, that applies only what changed and keeps the cursor."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from mbtop.model.diff import diff_rows
from mbtop.ui.cells import Cell, render
from mbtop.ui.rows import MIN_FLEX, Column, fit

CACHE_ROWS = 2  # cached renderings per visible row (or cell): the visible ones and as many spare
CACHE_SLACK = 64  # and a few more (the header, a row scrolled in)
# DataTable's own render caches (textual 8.x), by how many entries a screenful needs.
DATATABLE_CACHES = {
    "_row_render_cache": "lines",
    "_cell_render_cache": "cells",
    "_row_renderable_cache": "lines",
    "_line_cache": "lines",
}


class LiveTable(DataTable[object]):
    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(self, columns: tuple[Column, ...], min_flex: int = MIN_FLEX, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._all_columns = columns
        self._min_flex = min_flex
        self._shown: tuple[Column, ...] = ()
        self._flex = 0
        self._rows: dict[str, tuple[Cell, ...]] = {}
        self._source: dict[str, dict[str, Cell]] = {}
        self.filter_text = ""
        # Rendered cells by what they show (see _render_cell); DataTable's own cache is keyed by its
        # update counter, so one changed cell (or a focus change) re-renders every visible cell.
        # Sized by what is visible (``_fit_caches``): every visible entry is used at each redraw and
        # so stays recent, and what a changed count made stale goes first. A fixed 4,096 cells and
        # 512 lines a table filled for minutes with stale entries: most of the live screen's
        # memory growth in the soak (tracemalloc: +2.7 MB in 4 minutes, still rising).
        self._by_content: LRUCache[tuple[object, ...], list[list[Segment]]] = LRUCache(CACHE_SLACK)
        self._lines_by_content: LRUCache[tuple[object, ...], Strip] = LRUCache(CACHE_SLACK)
        self._fitted_for: tuple[int, int] = (0, 0)

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # an empty or shrinking table has no valid cursor
            return None

    def _layout(self) -> bool:
        """Choose columns for the current width; True when the set changed."""
        width = self.size.width or self.app.size.width
        shown, flex = fit(self._all_columns, width, self._min_flex)
        if shown == self._shown and flex == self._flex:
            return False
        self._shown, self._flex = shown, flex
        return True

    def _visible(self) -> dict[str, tuple[Cell, ...]]:
        needle = self.filter_text.lower()
        out: dict[str, tuple[Cell, ...]] = {}
        for key, cells in self._source.items():
            row = tuple(cells.get(c.key, ("", "")) for c in self._shown)
            if needle and not any(needle in text.lower() for text, _ in row):
                continue
            out[key] = row
        return out

    def cell_text(self, row: str, column: str) -> str:
        """The plain text of a cell as shown (or as it would be, when its column is dropped)."""
        if any(c.key == column for c in self._shown) and row in self._rows:
            return str(self.get_cell(row, column))
        return self._source.get(row, {}).get(column, ("", ""))[0]

    def set_rows(self, rows: dict[str, dict[str, Cell]]) -> None:
        self._source = rows
        self._apply(rebuild=self._layout())

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._apply(rebuild=False)

    def on_resize(self) -> None:
        if self._layout():
            self._apply(rebuild=True)

    def _apply(self, rebuild: bool) -> None:
        theme = self.app.current_theme
        new = self._visible()
        selected = self.selected_key
        diff = diff_rows(self._rows, new)
        if rebuild or diff.reordered or (diff.added and self._rows and not _appends(self._rows, new)):
            self.clear(columns=True)
            for col in self._shown:
                self.add_column(col.label, width=col.width if col.width is not None else self._flex, key=col.key)
            for key, row in new.items():
                self.add_row(*(render(c, theme) for c in row), key=key)
        else:
            for key in diff.removed:
                self.remove_row(key)
            for key, idx in diff.changed:
                self.update_cell(key, self._shown[idx].key, render(new[key][idx], theme))
            for key in diff.added:
                self.add_row(*(render(c, theme) for c in new[key]), key=key)
        self._rows = new
        if selected is not None and selected in new:
            index = list(new).index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell rendering, cached by the cell's content rather than the table's update
        counter: under a flood every sample changes a few counts, and DataTable would then re-render
        all its cells through Rich (most of a screen refresh; the key-to-screen latency under a flood
        depends on it). The key holds all that the rendered segments depend on, including the row and
        column index that DataTable puts in the segments' meta for mouse clicks."""
        cell: object = None  # the header and row labels: DataTable's own cache
        if row_index >= 0 and column_index >= 0:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            if row_key is not None and column_key is not None:
                cell = self._data.get(row_key, {}).get(column_key)
        if not isinstance(cell, Text) or cell.spans:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_index,
            column_index,
            cell.plain,
            cell.style,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.app.theme,
        )
        lines = self._by_content.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._by_content[key] = lines
        return lines

    def _fit_caches(self) -> None:
        """The caches hold what the table can show at its size, twice over (see __init__) — ours and
        DataTable's own, which are keyed by its update counter: every update makes all their
        entries stale, and at their fixed sizes (1,000 rows, lines and row renderables, 10,000
        cells) they filled for tens of minutes with dead renderings (the soak's screen, traced)."""
        shape = (self.size.height, len(self.columns))
        if shape == self._fitted_for:
            return
        self._fitted_for = shape
        rows, columns = max(1, shape[0]), max(1, shape[1])
        lines, cells = CACHE_ROWS * rows + CACHE_SLACK, CACHE_ROWS * rows * columns + CACHE_SLACK
        caches: list[tuple[object, int]] = [(self._lines_by_content, lines), (self._by_content, cells)]
        caches += [
            (getattr(self, name, None), cells if kind == "cells" else lines) for name, kind in DATATABLE_CACHES.items()
        ]
        for cache, size in caches:
            if isinstance(cache, LRUCache):
                cache.maxsize = size
                if len(cache) > size:  # an LRUCache evicts one entry per new one: it would stay this big
                    cache.clear()

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable's line rendering, cached by what the line shows (the row's cells, the columns'
        widths, whether the cursor or the mouse is on it) rather than by the table's update counter
        and cursor position: after a tab switch or a sample that changed one count, the rows that did
        not change come from the cache instead of being built again cell by cell."""
        self._fit_caches()
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        cells = self._rows.get(row_key.value) if isinstance(row_key.value, str) else None
        if cells is None or row_key not in self._row_locations:
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        key = (
            row_index,
            line_no,
            cells,
            x1,
            x2,
            self.size.width,
            tuple(c.get_render_width(self) for c in self.ordered_columns),
            base_style,
            self.show_cursor and self.cursor_row == row_index,
            self._show_hover_cursor and self.hover_row == row_index,
            self._pseudo_class_state,
            self.app.theme,
        )
        strip = self._lines_by_content.get(key)
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
            self._lines_by_content[key] = strip
        return strip

    def restyle(self) -> None:
        """Re-render every cell (after a theme change)."""
        self._rows = {}
        self._by_content.clear()
        self._lines_by_content.clear()
        self._apply(rebuild=True)


def _appends(old: dict[str, tuple[Cell, ...]], new: dict[str, tuple[Cell, ...]]) -> bool:
    """New keys only at the end: they can be added without a rebuild."""
    keys = [k for k in new if k in old]
    return list(new)[: len(keys)] == keys
