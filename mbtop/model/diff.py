"""Keyed row diffs, so a live table touches only what changed (cursor and bytes on the wire survive)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

Row = Sequence[Hashable]


@dataclass(frozen=True, slots=True)
class RowDiff:
    added: tuple[str, ...]  # keys, in the new order
    removed: tuple[str, ...]
    changed: tuple[tuple[str, int], ...]  # (key, column index) of every changed cell
    reordered: bool  # the surviving keys are in another order: rebuild rather than patch


def diff_rows(old: Mapping[str, Row], new: Mapping[str, Row]) -> RowDiff:
    added = tuple(k for k in new if k not in old)
    removed = tuple(k for k in old if k not in new)
    changed: list[tuple[str, int]] = []
    for key, row in new.items():
        before = old.get(key)
        if before is None:
            continue
        if len(before) != len(row):
            changed.extend((key, i) for i in range(len(row)))
            continue
        changed.extend((key, i) for i, (a, b) in enumerate(zip(before, row, strict=True)) if a != b)
    kept_old = [k for k in old if k in new]
    kept_new = [k for k in new if k in old]
    return RowDiff(added, removed, tuple(changed), kept_old != kept_new)
