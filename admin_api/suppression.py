"""Small-count suppression that differencing cannot undo (pure: numbers in, text out).

A published count from 1 to 4 could point at a person, so it is shown as ``<5`` (primary
suppression). That alone is undone by arithmetic: a row's total minus its other cells,
or one table's column total (all districts' women) minus the shown cells of another
table that counts the same calls or cases (all months' women), gives the hidden count
back. So the caller names every *group*, a set of cells whose sum is known or can be
worked out from the rest of the export, and :func:`protect` makes sure that no group
holds exactly one hidden cell: while one does, the smallest other count of that group is
hidden too, as ``*`` (complementary suppression), and the groups are checked again,
since that cell belongs to other groups.

This defeats differencing with one equation at a time (subtracting one total from
another). It does not claim to defeat someone who solves the whole system of equations
or who subtracts two exports of overlapping periods; every export is in the audit log.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

SUPPRESS_BELOW = 5
SMALL = "<5"
# A cell hidden only so that a small count beside it cannot be worked out.
HIDDEN = "*"
Cell = TypeVar("Cell", bound=Hashable)


def protect(counts: Mapping[Cell, int], groups: Iterable[Iterable[Cell]]) -> dict[Cell, str]:
    """Each cell's text: its count, ``<5`` for 1 to 4, or ``*`` for a complementary cell.

    ``groups`` are the sets of cells whose sum a reader can know; a cell missing from
    ``counts`` counts 0. Deterministic: ties go to the cell that sorts first by its repr.
    """
    sets = [sorted(set(group), key=repr) for group in groups]
    small = {cell for cell, value in counts.items() if 0 < value < SUPPRESS_BELOW}
    hidden: set[Cell] = set()
    changed = True
    while changed:
        changed = False
        for group in sets:
            if sum(1 for cell in group if cell in small or cell in hidden) != 1:
                continue
            shown = [cell for cell in group if cell not in small and cell not in hidden]
            if not shown:
                continue
            # The smallest count loses least; a zero only when nothing else is left.
            hidden.add(min(shown, key=lambda cell: (counts.get(cell, 0) <= 0, counts.get(cell, 0))))
            changed = True
    return {
        cell: SMALL if cell in small else HIDDEN if cell in hidden else str(value)
        for cell, value in counts.items()
    }
