"""What one batch of a stream changes in its tab, computed from the key cells read back just before: pure logic.

Rows are located by key every time (never by a row number remembered from earlier), so a person sorting,
inserting or deleting rows between batches is harmless. An unchanged row (its digest equals the one read or last
written) is not written again, so re-sending the same data makes no write request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._cells import Cell, Key


@dataclass
class Change:
    """One record of a batch: its cells, or None for a tombstone."""

    key: Key
    cells: list[Cell] | None
    digest: int = 0


@dataclass
class Plan:
    """The writes of one batch: row updates in place, rows to append, rows to delete (highest first)."""

    updates: list[tuple[int, list[Cell]]] = field(default_factory=list)
    """(0-based sheet row, cells)."""
    appends: list[list[Cell]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    """0-based sheet rows, in descending order (deleting one does not move those before it)."""
    digests: dict[Key, int | None] = field(default_factory=dict)
    """What the key → digest cache becomes once the writes succeeded (None: the key is gone)."""

    @property
    def empty(self) -> bool:
        """Whether the batch changes nothing in the sheet."""
        return not (self.updates or self.appends or self.deletes)


def positions(keys: list[Key | None], first_row: int) -> dict[Key, list[int]]:
    """Key → the sheet rows holding it, in sheet order; `keys[i]` is the key of sheet row `first_row + i`."""
    found: dict[Key, list[int]] = {}
    for i, key in enumerate(keys):
        if key is not None:
            found.setdefault(key, []).append(first_row + i)
    return found


def plan_upserts(where: dict[Key, list[int]], digests: dict[Key, int], changes: dict[Key, Change]) -> Plan:
    """Upsert by key: the last change of each key wins; extra rows holding one key are removed (no duplicates)."""
    plan = Plan()
    deletes: list[int] = []
    for key, change in changes.items():
        rows = where.get(key, [])
        if change.cells is None:
            deletes.extend(rows)
            plan.digests[key] = None
            continue
        if rows:
            if digests.get(key) != change.digest:
                plan.updates.append((rows[0], change.cells))
            deletes.extend(rows[1:])
        else:
            plan.appends.append(change.cells)
        plan.digests[key] = change.digest
    plan.deletes = sorted(set(deletes), reverse=True)
    return plan


def plan_appends(where: dict[Key, list[int]], changes: list[Change]) -> Plan:
    """Append every record; a tombstone removes its key's rows, those in the sheet and those earlier in the batch."""
    plan = Plan()
    pending: list[Change] = []
    deletes: list[int] = []
    for change in changes:
        if change.cells is None:
            deletes.extend(where.get(change.key, []))
            pending = [c for c in pending if c.key != change.key]
        else:
            pending.append(change)
    plan.appends = [c.cells for c in pending if c.cells is not None]
    plan.deletes = sorted(set(deletes), reverse=True)
    return plan
