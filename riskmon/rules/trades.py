"""What the trade rules share: the trades that opened and closed between two snapshots.

Platforms report positions, not deals, in every snapshot; a position id that appears is a trade opened, one
that disappears a trade closed. A closed trade's result is the balance change when it closed alone, else its
last floating P&L seen (commission and swap included).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskmon.models import AccountSnapshot, Position
from riskmon.rules.base import Slot


@dataclass(frozen=True)
class Held(Slot):
    """The positions seen in the last snapshot: ids and their last net P&L."""

    ids: tuple[str, ...] = ()
    pnls: tuple[Decimal, ...] = ()

    @classmethod
    def of(cls, snap: AccountSnapshot) -> Held:
        return cls(tuple(p.id for p in snap.positions), tuple(p.net_pnl for p in snap.positions))


@dataclass(frozen=True)
class Trades:
    opened: tuple[Position, ...]
    closed: tuple[Decimal, ...]  # each closed trade's result


def trades_between(held: Held | None, last_balance: Decimal | None, snap: AccountSnapshot) -> Trades:
    """The trades since ``held`` (None: the first snapshot, which counts what it holds as opened)."""
    before = dict(zip(held.ids, held.pnls, strict=True)) if held is not None else {}
    now = {p.id for p in snap.positions}
    opened = tuple(p for p in snap.positions if p.id not in before)
    gone = [pnl for pid, pnl in before.items() if pid not in now]
    if len(gone) == 1 and not opened and last_balance is not None:
        return Trades(opened, (snap.balance - last_balance,))
    return Trades(opened, tuple(gone))
