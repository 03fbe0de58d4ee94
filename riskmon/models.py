"""The data riskmon passes around: snapshots in, rule results and alert events out.

Money is ``Decimal`` (converted once, at the platform boundary); every timestamp is timezone-aware UTC.
All models are frozen: a snapshot is a fact about one instant and is never edited afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import NamedTuple

ZERO = Decimal(0)


def require_utc(ts: datetime, what: str) -> datetime:
    """Reject naive timestamps: every instant inside riskmon carries its offset."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {ts.isoformat()}")
    return ts


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class Severity(Enum):
    """Ordered: OK < INFO < WARNING < CRITICAL."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __lt__(self, other: Severity) -> bool:
        return self.rank < other.rank

    def __le__(self, other: Severity) -> bool:
        return self.rank <= other.rank


_SEVERITY_RANK = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}


class AlertStatus(StrEnum):
    FIRING = "firing"
    ESCALATED = "escalated"  # still failing, at a higher severity
    DEESCALATED = "de-escalated"  # still failing, at a lower severity
    RESOLVED = "resolved"


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class Position:
    id: str
    symbol: str
    side: Side
    volume: Decimal  # lots
    open_price: Decimal | None = None
    price: Decimal | None = None  # current price used for the P&L
    notional: Decimal | None = None  # absolute exposure in the account currency
    unrealized_pnl: Decimal = ZERO  # floating P&L in the account currency (swap/commission separate)
    swap: Decimal = ZERO
    commission: Decimal = ZERO
    stop_loss: Decimal | None = None
    opened_at: datetime | None = None

    @property
    def net_pnl(self) -> Decimal:
        return self.unrealized_pnl + self.swap + self.commission

    @property
    def loss_at_stop(self) -> Decimal | None:
        """Further loss, in account currency, if price moves from here to the stop loss.

        ``None`` means unlimited (no stop loss) or unknown (no price or notional to scale by).
        A stop already beyond the current price in profit risks nothing more: 0.
        """
        if self.stop_loss is None or self.price is None or self.notional is None or self.price == 0:
            return None
        adverse_move = (self.price - self.stop_loss) * self.side.sign
        return max(ZERO, adverse_move / self.price * self.notional)


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    symbol: str
    side: Side
    volume: Decimal  # lots
    kind: str = "limit"  # limit | stop | stop_limit | market
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One account at one instant, as the platform reported it."""

    account: str
    balance: Decimal
    equity: Decimal
    ts: datetime  # the platform's own timestamp for this state
    platform: str = "replay"
    currency: str = "USD"
    margin: Decimal = ZERO  # used margin
    positions: tuple[Position, ...] = ()
    orders: tuple[Order, ...] = ()
    received_at: datetime | None = None  # when riskmon took it (staleness = received_at - ts)
    realized_today: Decimal | None = None  # platform-computed closed P&L since the trading-day start
    leverage: Decimal | None = None  # account leverage setting (e.g. 100 for 1:100), informational
    # Nothing new arrived: the platform re-sends its last state so time-driven rules (the day reset) run.
    # Evaluated like any snapshot, but it is not fresh data: it never makes a silent account look alive.
    keepalive: bool = False

    def __post_init__(self) -> None:
        require_utc(self.ts, "snapshot ts")
        if self.received_at is not None:
            require_utc(self.received_at, "snapshot received_at")

    @property
    def free_margin(self) -> Decimal:
        return self.equity - self.margin

    @property
    def margin_level(self) -> Decimal | None:
        """Equity / used margin × 100, or None when no margin is in use."""
        if self.margin <= 0:
            return None
        return self.equity / self.margin * 100

    @property
    def floating_pnl(self) -> Decimal:
        return self.equity - self.balance

    @property
    def total_notional(self) -> Decimal:
        return sum((p.notional for p in self.positions if p.notional is not None), ZERO)

    @property
    def total_lots(self) -> Decimal:
        return sum((p.volume for p in self.positions), ZERO)


# Instants outside this range are a broken clock or a corrupt record, not trading data.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _bad_time(when: datetime | None, what: str) -> str | None:
    if when is None or EARLIEST <= when < LATEST:
        return None
    return f"{what} {when.isoformat()} is outside {EARLIEST.year}–{LATEST.year}"


# No account holds a quadrillion of anything: a figure this large (10^15 and up, told by its exponent, as
# arithmetic on it could overflow) is a corrupt value that would break the rules' arithmetic.
IMPLAUSIBLE_EXPONENT = 15


def _bad_figures(what: str, figures: dict[str, Decimal | None]) -> str | None:
    for name, value in figures.items():
        if value is not None and not value.is_finite():
            return f"{what}{name} is {value}"
        if value is not None and value.adjusted() >= IMPLAUSIBLE_EXPONENT:
            return f"{what}{name} is implausibly large ({value})"
    return None


PLAUSIBLE = Decimal(10) ** IMPLAUSIBLE_EXPONENT


def plausible(snap: AccountSnapshot) -> bool:
    """True when ``snapshot_problem`` has nothing to say, told in a few comparisons per figure (every tick passes
    here; only a snapshot that fails it is examined figure by figure for the reason). A NaN raises."""
    big, low = PLAUSIBLE, -PLAUSIBLE
    try:
        if not (ZERO <= snap.margin < big and low < snap.balance < big and low < snap.equity < big):
            return False
        extra = snap.realized_today, snap.leverage
        if not all(v is None or low < v < big for v in extra) or not EARLIEST <= snap.ts < LATEST:
            return False
        if snap.received_at is not None and not EARLIEST <= snap.received_at < LATEST:
            return False
        for p in snap.positions:
            if not (ZERO <= p.volume < big and low < p.unrealized_pnl < big and low < p.swap < big):
                return False
            if not (low < p.commission < big and (p.opened_at is None or EARLIEST <= p.opened_at < LATEST)):
                return False
            if not all(v is None or low < v < big for v in (p.price, p.notional, p.open_price, p.stop_loss)):
                return False
        return all(ZERO <= o.volume < big and (o.price is None or low < o.price < big) for o in snap.orders)
    except InvalidOperation:
        return False


def snapshot_problem(snap: AccountSnapshot) -> str | None:
    """Why ``snap`` cannot be trusted (a non-finite or negative figure, an absurd time), or None.

    The one validation every snapshot passes (``AccountMonitor.process``), whatever platform it came from:
    a value that can never be evaluated must never reach the rules or the database.
    """
    if plausible(snap):
        return None
    account = {
        "balance": snap.balance,
        "equity": snap.equity,
        "margin": snap.margin,
        "realized_today": snap.realized_today,
        "leverage": snap.leverage,
    }
    problem = _bad_figures("", account) or _bad_time(snap.ts, "timestamp") or _bad_time(snap.received_at, "received_at")
    if problem:
        return problem
    if snap.margin < 0:
        return f"margin is negative ({snap.margin})"
    for p in snap.positions:
        figures = {"volume": p.volume, "price": p.price, "open_price": p.open_price, "notional": p.notional,
                   "unrealized_pnl": p.unrealized_pnl, "swap": p.swap, "commission": p.commission,
                   "stop_loss": p.stop_loss}  # fmt: skip
        problem = _bad_figures(f"position {p.id} ", figures) or _bad_time(p.opened_at, f"position {p.id} opened_at")
        if problem:
            return problem
        if p.volume < 0:
            return f"position {p.id} has a negative volume ({p.volume})"
    for o in snap.orders:
        problem = _bad_figures(f"order {o.id} ", {"volume": o.volume, "price": o.price})
        if problem:
            return problem
        if o.volume < 0:
            return f"order {o.id} has a negative volume ({o.volume})"
    return None


class RuleResult(NamedTuple):
    """A rule's verdict on one snapshot, with the figures every consumer reads.

    ``observed`` and ``limit`` are in the rule's own unit (money, percent, lots, count, ratio).
    ``room_left`` is the money that can still be lost before the floor (None for rules without a
    money floor); ``used`` is the share of the limit consumed (1 = exactly at the limit).
    ``describe`` is the message, or a function building it: most results are never read by a person,
    so rules defer the formatting (Decimal to text is a large part of a check) until ``message`` is read.
    A NamedTuple rather than a frozen dataclass: every rule makes one per snapshot, and a tuple is built
    in a third of the time.
    """

    rule: str
    severity: Severity
    observed: Decimal
    limit: Decimal
    describe: str | Callable[[], str]
    unit: str = ""
    room_left: Decimal | None = None
    used: Decimal | None = None
    floor: Decimal | None = None  # equity floor in money, for floor-based rules

    @property
    def message(self) -> str:
        return self.describe if isinstance(self.describe, str) else self.describe()

    @property
    def failing(self) -> bool:
        return self.severity is not Severity.OK


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A change in a rule's alert state: it started failing, changed severity, or recovered."""

    account: str
    rule: str
    severity: Severity
    status: AlertStatus
    observed: Decimal
    limit: Decimal
    message: str
    ts: datetime
    room_left: Decimal | None = None
    used: Decimal | None = None
    label: str = ""
    action: str = ""  # what the enforcer did or will do, if anything
    unit: str = ""  # of ``observed`` and ``limit``: the rule's (money, %, x, lots, days, positions)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.rule)
