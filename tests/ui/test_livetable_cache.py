"""LiveTable caches rendered cells and lines by what they show: a changed cell, a row that moved, the
cursor or a theme change must still reach the screen (the caches must never show a stale line)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.strip import Strip

from mbtop.ui.rows import Column
from mbtop.ui.widgets.livetable import LiveTable

COLUMNS = (Column("name", "Name", 10, 0), Column("count", "Count", 6, 0), Column("note", "Note", None, 0))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, id="t")


def rows(*items: tuple[str, str]) -> dict[str, dict[str, tuple[str, str]]]:
    return {key: {"name": (key, ""), "count": (count, ""), "note": ("n-" + key, "")} for key, count in items}


def line(table: LiveTable, y: int) -> Strip:
    table._pseudo_class_state = table.get_pseudo_class_state()  # as render_lines sets it
    return table.render_line(y)


def text(strip: Strip) -> str:
    return "".join(seg.text for seg in strip).rstrip()


def row_meta(strip: Strip) -> set[int]:
    return {seg.style.meta["row"] for seg in strip if seg.style is not None and "row" in seg.style.meta}


async def test_a_changed_cell_and_a_moved_row_are_drawn_anew() -> None:
    async with TableApp().run_test(size=(60, 10)) as pilot:
        table = pilot.app.query_one(LiveTable)
        table.set_rows(rows(("a", "1"), ("b", "2"), ("c", "3")))
        await pilot.pause()
        assert "b" in text(line(table, 2)) and "2" in text(line(table, 2))
        table.set_rows(rows(("a", "1"), ("b", "99"), ("c", "3")))
        await pilot.pause()
        assert "99" in text(line(table, 2))
        # "c" moves up a line when "b" goes: its text is the same, but mouse clicks on it must
        # name its new row index (DataTable keeps it in the segments' meta).
        before = line(table, 3)
        assert row_meta(before) == {2}
        table.set_rows(rows(("a", "1"), ("c", "3")))
        await pilot.pause()
        after = line(table, 2)
        assert "c" in text(after) and row_meta(after) == {1}


async def test_the_cursor_line_follows_the_cursor() -> None:
    async with TableApp().run_test(size=(60, 10)) as pilot:
        table = pilot.app.query_one(LiveTable)
        table.set_rows(rows(("a", "1"), ("b", "2"), ("c", "3")))
        table.focus()
        await pilot.pause()
        first, second = line(table, 1), line(table, 2)
        assert first.text != second.text
        styles_first = {seg.style for seg in first}
        await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row == 1
        # the line of "a" now looks like an ordinary row; "b" has the cursor's look
        assert {seg.style for seg in line(table, 1)} != styles_first
        assert {seg.style.bgcolor for seg in line(table, 2) if seg.style} == {
            seg.style.bgcolor for seg in first if seg.style
        }


async def test_a_theme_change_redraws_every_line() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 10)) as pilot:
        app.theme = "nord"
        table = app.query_one(LiveTable)
        table.set_rows({"a": {"name": ("a", "critical"), "count": ("1", ""), "note": ("x", "")}})
        await pilot.pause()
        dark = line(table, 1)
        app.theme = "gruvbox"
        table.restyle()
        await pilot.pause()
        light = line(table, 1)
        assert dark.text == light.text
        assert [seg.style for seg in dark] != [seg.style for seg in light]


async def test_the_caches_hold_what_is_visible_not_every_count_ever_shown() -> None:
    """A table whose counts change every refresh (a gateway under load) keeps a bounded number of
    renderings, sized by what it shows: the soak found fixed caches of 4,096 cells and 512 lines a
    table filling for minutes with stale ones (the live screen's memory kept growing)."""
    async with TableApp().run_test(size=(60, 10)) as pilot:
        table = pilot.app.query_one(LiveTable)
        for n in range(100):
            table.set_rows(rows(*((k, str(n + i)) for i, k in enumerate("abcdefgh"))))
            await pilot.pause()
            assert "b" in text(line(table, 2)) and str(n + 1) in text(line(table, 2))
        lines, cells = 2 * table.size.height + 64, 2 * table.size.height * len(table.columns) + 64
        assert len(table._lines_by_content) <= lines and len(table._by_content) <= cells
        # DataTable's own caches too (keyed by its update counter: all stale after each update)
        assert len(table._line_cache) <= lines and len(table._row_render_cache) <= lines
        assert len(table._cell_render_cache) <= cells
        assert len(table._lines_by_content) < 100  # far fewer than the lines ever drawn
