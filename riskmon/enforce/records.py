"""The enforcer's facts: one record per action (keyed before it is sent) and each account's trading status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from riskmon.models import TradingState


class Kind(StrEnum):
    CLOSE = "close"
    CANCEL = "cancel"


class Status(StrEnum):
    SENT = "sent"  # written before the request went out; answer unknown until verified
    AWAITING = "awaiting"  # the broker answered (or timed out): a fresh snapshot must confirm
    RETRY = "retry"  # refused or not confirmed: sent again at ``next_at``
    DONE = "done"  # confirmed by a snapshot taken after the answer
    SIMULATED = "simulated"  # dry run: planned, logged, never sent
    EXPIRED = "expired"  # its reason went away (new trading day, leverage back under target)

    @property
    def covers(self) -> bool:
        """The target is being dealt with: plan nothing new for it."""
        return self in {Status.SENT, Status.AWAITING, Status.RETRY, Status.SIMULATED}

    @property
    def in_flight(self) -> bool:
        """Sent for real and not yet settled."""
        return self in {Status.SENT, Status.AWAITING, Status.RETRY}


@dataclass(frozen=True, slots=True)
class Intent:
    """One thing to do to one position or order: what the pure planner hands to the executor."""

    policy: str  # "flatten" or "deleverage.<episode>"
    kind: Kind
    target: str  # position or order id
    symbol: str
    volume: Decimal | None  # lots to close; None: all of it (and always None for a cancel)
    volume_before: Decimal | None  # the position's volume when planned, to verify a partial close
    live: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Action:
    key: str  # account|trading day|policy|kind:target|n — unique, written before sending
    account: str
    trading_day: date
    intent: Intent
    status: Status
    attempts: int = 0
    next_at: datetime | None = None
    outcome: str = ""  # the last broker outcome
    message: str = ""
    alerted: str = ""  # the refusal already raised as a critical alert (once per outcome)
    answer_gen: int = 0  # lane generation at the answer: a snapshot must come after it to verify


@dataclass(frozen=True, slots=True)
class TradingStatus:
    """ACTIVE → REDUCING → HALTED, with the day it applies to and whether it is enforced for real."""

    state: TradingState = TradingState.ACTIVE
    trading_day: date | None = None
    reason: str = ""
    since: datetime | None = None
    live: bool = False  # a manual flatten enforces its halt live whatever the account's mode
    episode: int = 0  # counts deleverage episodes, so each gets its own action keys
    until: datetime | None = None  # a halt lifted at this instant (a rule's flatten_until), not the next day
    new_only: bool = False  # a halt of new risk (halt_new): only what opens after ``since`` is closed
