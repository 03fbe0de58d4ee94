"""The shape every rule has (a plug-in), and the small helpers rules share.

A rule is one module under ``riskmon/rules/``: its name constant, its spec (the rulebook field it reads),
its ``Plugin`` entry for the registry, and the ``Rule`` the plug-in builds. A rule that needs memory
between snapshots keeps it in its own ``Slot`` in the account state, which is serialised generically.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    NamedTuple,
    Protocol,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)
from typing import get_type_hints as _hints

from riskmon.models import AccountSnapshot, RuleResult

if TYPE_CHECKING:
    from riskmon.rules.spec import RulebookBase, RuleSpec
    from riskmon.state import AccountState

INFINITY = Decimal("Infinity")
HUNDRED = Decimal(100)


class Response(StrEnum):
    """What happens when a rule fails at its critical level (the enforcer acts on it; alerts always go)."""

    ALERT = "alert"  # alert only
    HALT_NEW = "halt_new"  # halt new risk: positions opened while halted are closed, the rest stay
    FLATTEN = "flatten"  # flatten and halt until the next reset
    FLATTEN_UNTIL = "flatten_until"  # flatten and halt until the spec's ``until`` time (the account's zone)

    @property
    def text(self) -> str:
        return {
            Response.ALERT: "alert only",
            Response.HALT_NEW: "halt new risk",
            Response.FLATTEN: "flatten and halt until the next reset",
            Response.FLATTEN_UNTIL: "flatten and halt until",
        }[self]


class Level(NamedTuple):
    """A rule's response level, and for ``flatten_until`` the time of day (the rulebook's zone) the halt lifts."""

    kind: Response
    until: time | None = None

    @property
    def text(self) -> str:
        return f"{self.kind.text} {self.until:%H:%M}" if self.until is not None else self.kind.text


ALERT_ONLY = Level(Response.ALERT)


class Watch(StrEnum):
    """Inputs besides equity that can change a rule's verdict (the fast path re-runs the rule when one moves)."""

    BALANCE = "balance"
    POSITIONS = "positions"  # positions opened, closed or resized
    ORDERS = "orders"
    MARGIN = "margin"
    PRICES = "prices"  # position prices, notional or stops
    TIME = "time"  # the clock: windows, days, deadlines


class Band(NamedTuple):
    """Equities strictly between ``low`` and ``high`` give the same verdict, all else unchanged.

    A tick at or beyond either edge may change it and needs a full evaluation.
    """

    low: Decimal
    high: Decimal

    def holds(self, equity: Decimal) -> bool:
        return self.low < equity < self.high

    def __and__(self, other: tuple[Decimal, Decimal]) -> Band:
        return Band(max(self.low, other[0]), min(self.high, other[1]))


ANY_EQUITY = Band(-INFINITY, INFINITY)  # the verdict does not depend on equity


class Rule(Protocol):
    """Pure: a function of (snapshot, state) with no I/O and no clock reads."""

    @property
    def name(self) -> str: ...

    @property
    def response(self) -> Level: ...

    @property
    def watches(self) -> frozenset[Watch]: ...

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult: ...

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band: ...


FOREVER = datetime.max.replace(tzinfo=UTC)


class Timed(Protocol):
    """A rule watching the clock (``Watch.TIME``) says until when its verdict holds with nothing else moving:
    ``steady_until(snap, state)`` is an instant after ``snap.ts`` before which its verdict on a snapshot like
    ``snap`` (equity inside its band) cannot change. ``FOREVER`` when only the trading day's reset can change it
    (the engine stops the fast path at every reset). A rule watching the clock without it is judged in full on
    every snapshot."""

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime: ...


def steady_until(rule: Rule, snap: AccountSnapshot, state: AccountState) -> datetime | None:
    """``rule.steady_until`` when the rule has one (see ``Timed``), else None: judge every snapshot."""
    timed: Timed | None = rule if hasattr(rule, "steady_until") else None  # type: ignore[assignment]
    return None if timed is None else timed.steady_until(snap, state)


class DayBound:
    """For a rule whose clock is only the trading day's reset (a day's, week's or month's anchor)."""

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime:
        return FOREVER


class SpecRule:
    """For a rule built from a ``RuleSpec``: its response level is the spec's."""

    spec: RuleSpec

    @property
    def response(self) -> Level:
        return self.spec.level


class EquityFree:
    """For a rule whose verdict does not depend on equity (only on what it ``watches``)."""

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        return ANY_EQUITY


class StatefulRule(Rule, Protocol):
    """A rule with memory: ``advance`` folds a snapshot into its slot (``before`` is the account state before
    the snapshot, ``after`` with the day rollover and high-water marks applied); None: nothing to remember. Pure."""

    def advance(self, slot: Any, snap: AccountSnapshot, before: AccountState, after: AccountState) -> Slot | None: ...


def stateful(rule: Rule) -> StatefulRule | None:
    return rule if hasattr(rule, "advance") else None  # type: ignore[return-value]


class FailingRule(StatefulRule, Protocol):
    """A rule that keeps a failed account failed (its slot remembers it) until a person acknowledges it."""

    def failed(self, state: AccountState) -> bool: ...

    def acknowledge(self, slot: Any, now: datetime) -> Slot | None: ...


def acknowledge(state: AccountState, rules: Iterable[Rule], now: datetime) -> tuple[AccountState, list[str]]:
    """``state`` without the failures its rules keep (a person acknowledged the failed account), and the rules
    cleared: each is judged afresh from the next snapshot."""
    keeping = [rule for rule in rules if hasattr(rule, "failed") and cast(FailingRule, rule).failed(state)]
    if not keeping:
        return state, []
    slots = dict(state.slots)
    for rule in keeping:
        slot = cast(FailingRule, rule).acknowledge(slots.get(rule.name), now)
        if slot is None:
            slots.pop(rule.name, None)
        else:
            slots[rule.name] = slot
    return dataclasses.replace(state, slots=slots), [rule.name for rule in keeping]


S = TypeVar("S")


@dataclass(frozen=True)
class Plugin(Generic[S]):
    """A rule as the registry knows it: the rulebook field it owns and how to build and describe it.

    ``field`` is the type of the rulebook field (a spec model, or a plain value such as ``int | None``);
    ``build`` returns None when the spec turns the rule off; ``describe`` says what the rule does in one
    line for ``riskmon presets`` and ``riskmon config`` (None when off).
    """

    name: str
    field: Any
    default: S
    build: Callable[[S, RulebookBase], Rule | None]
    describe: Callable[[S, RulebookBase], str | None]
    needs_initial_balance: Callable[[S], bool] = lambda spec: False

    def of(self, book: RulebookBase) -> S:
        """This rule's field of ``book``."""
        return cast(S, getattr(book, self.name))


# -- rule state slots ------------------------------------------------------------------------------


class Slot:
    """A rule's own memory in the account state: a frozen dataclass whose fields are Decimal, int, bool,
    str, date, datetime, or None / tuples of those. Serialised to JSON generically, field by field."""

    _hints_cache: ClassVar[dict[type, dict[str, Any]]] = {}

    def to_doc(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Any:
        hints = cls._hints_cache.get(cls)
        if hints is None:
            hints = cls._hints_cache[cls] = _hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: _decode(hints[k], v) for k, v in doc.items() if k in names})

    @classmethod
    def restore(cls, value: object) -> Any:
        """The slot as stored in the state: itself, its JSON document (after a restart), or None."""
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_doc(value)
        raise TypeError(f"{cls.__name__} cannot be restored from {type(value).__name__}")


def _encode(value: object) -> object:
    if isinstance(value, Decimal | date | time):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    if isinstance(value, tuple | frozenset):
        return [_encode(v) for v in value]
    return value


def _decode(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        kinds = [k for k in get_args(kind) if k is not type(None)]
        return _decode(kinds[0], value)
    if origin is tuple:
        return tuple(_decode(get_args(kind)[0], v) for v in value)
    if kind is Decimal:
        return Decimal(value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return value


# -- text ------------------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def pct(share: Decimal) -> str:
    """A share (0.8) as a percentage ("80.0%")."""
    return f"{share * HUNDRED:.1f}%"


def share_of(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole as a share; infinite when whole is not positive and part is."""
    if whole > 0:
        return part / whole
    return INFINITY if part > 0 else Decimal(0)


def hours_minutes(delta: timedelta) -> str:
    """A time left in a trader's words: "14 h 10 min", "9 min", "40 s" (whole units, rounded down)."""
    hours, rest = divmod(max(int(delta.total_seconds()), 0), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def label(rule: str) -> str:
    return rule.replace("_", " ")


# -- the shared figures consumers read -------------------------------------------------------------


def floors(results: Iterable[RuleResult]) -> list[RuleResult]:
    """The money-floor results (equity floor, room left, share used), whichever rules they come from."""
    return [r for r in results if r.floor is not None and r.room_left is not None]


def tightest(results: Iterable[RuleResult]) -> RuleResult | None:
    """The money floor with the least room left: what the trader can still lose before some rule fails."""
    found = floors(results)
    return min(found, key=lambda r: (r.room_left, r.rule)) if found else None
