"""News windows: no trade opened or closed on an affected symbol from ``before_minutes`` before to
``after_minutes`` after a listed high-impact release (FTMO: 2 minutes on funded Standard accounts).

The calendar is a file or an http(s) URL in the common economic-calendar JSON export (a list of events with
``title``, ``country`` (the currency), ``date`` (ISO 8601 with its offset) and ``impact``), read when the
configuration is loaded (riskmon start-up, `riskmon config`, `riskmon replay`), so a replay judges with the
same calendar. A symbol is affected by an event when it contains the event's currency (EURUSD, XAUUSD for
USD) or one of the extra symbols listed for that currency (``symbols = { USD = ["US30", "US500"] }``).

Holding through a window is allowed; a stop or take-profit filling inside it counts as a trade, so open
positions on an affected symbol warn from ``lead_minutes`` before the window until it ends. A trade opened
or closed inside the window is critical until the window ends.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import Field, PrivateAttr, model_validator

from riskmon.models import AccountSnapshot, RuleResult, Severity
from riskmon.rules.base import FOREVER, EquityFree, Plugin, Slot, SpecRule, Watch
from riskmon.rules.spec import RulebookBase, RuleSpec
from riskmon.rules.trades import Held, trades_between
from riskmon.state import AccountState

NEWS = "news"
FETCH_TIMEOUT_S = 10


class NewsEvent(NamedTuple):
    at: datetime
    currency: str
    title: str


def parse_calendar(text: str, impacts: tuple[str, ...]) -> tuple[NewsEvent, ...]:
    """The events of the given impacts, in time order. Raises ValueError naming the first bad entry."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, list):
        raise ValueError("expected a JSON list of events")
    wanted = {i.lower() for i in impacts}
    events = []
    for number, item in enumerate(doc, start=1):
        if not isinstance(item, dict) or str(item.get("impact", "")).lower() not in wanted:
            continue
        try:
            at = datetime.fromisoformat(str(item["date"]))
            currency = str(item["country"]).upper()
        except (KeyError, ValueError):
            raise ValueError(f"event {number}: needs 'date' (ISO 8601 with offset) and 'country'") from None
        if at.tzinfo is None:
            raise ValueError(f"event {number}: date {item['date']!r} has no UTC offset")
        events.append(NewsEvent(at, currency, str(item.get("title", ""))))
    return tuple(sorted(events))


def read_calendar(source: str) -> str:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT_S) as response:
            return str(response.read().decode("utf-8"))
    return Path(source).read_text(encoding="utf-8")


class NewsSpec(RuleSpec):
    calendar: str | None = None  # a file or an http(s) URL
    before_minutes: Annotated[int, Field(ge=0)] = 2
    after_minutes: Annotated[int, Field(ge=0)] = 2
    impact: tuple[str, ...] = ("High",)
    lead_minutes: Annotated[int, Field(ge=0)] = 15
    symbols: Mapping[str, tuple[str, ...]] = {}  # currency -> extra symbols its news moves (indices, metals)
    _events: tuple[NewsEvent, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _load(self) -> NewsSpec:
        if not self.enabled:
            return self
        if self.calendar is None:
            raise ValueError("calendar: a file or an http(s) URL of the economic calendar (JSON) is needed")
        try:
            self._events = parse_calendar(read_calendar(self.calendar), self.impact)
        except (OSError, ValueError) as exc:
            raise ValueError(f"calendar {self.calendar}: {exc}") from None
        return self

    @property
    def events(self) -> tuple[NewsEvent, ...]:
        return self._events


@dataclass(frozen=True)
class NewsTrades(Slot):
    """The positions last seen (to tell trades opened and closed), and the trades inside the current window."""

    ids: tuple[str, ...] = ()
    pnls: tuple[Decimal, ...] = ()
    symbols: tuple[str, ...] = ()
    window: datetime | None = None  # the release whose window the trades below fell in
    traded: tuple[str, ...] = ()  # "opened EURUSD #12" / "closed EURUSD #9"


class Window(NamedTuple):
    start: datetime
    end: datetime
    event: NewsEvent


@dataclass(frozen=True)
class NewsRule(SpecRule, EquityFree):
    spec: NewsSpec
    name: str = NEWS
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.TIME})

    def _window(self, event: NewsEvent) -> Window:
        before, after = timedelta(minutes=self.spec.before_minutes), timedelta(minutes=self.spec.after_minutes)
        return Window(event.at - before, event.at + after, event)

    def affected(self, symbol: str, currency: str) -> bool:
        upper = symbol.upper()
        return currency in upper or any(s.upper() in upper for s in self.spec.symbols.get(currency, ()))

    def open_windows(self, ts: datetime) -> list[Window]:
        return [w for w in map(self._window, self.spec.events) if w.start <= ts <= w.end]

    def next_window(self, ts: datetime) -> Window | None:
        return next((w for w in map(self._window, self.spec.events) if w.start > ts), None)

    def steady_until(self, snap: AccountSnapshot, state: AccountState) -> datetime:
        """The next edge of a window, or of the warning lead before one."""
        lead = timedelta(minutes=self.spec.lead_minutes)
        edges = (e for w in map(self._window, self.spec.events) for e in (w.start - lead, w.start, w.end))
        return min((e for e in edges if e > snap.ts), default=FOREVER)

    def advance(self, slot: object, snap: AccountSnapshot, before: AccountState, after: AccountState) -> NewsTrades:
        seen: NewsTrades = NewsTrades.restore(slot) or NewsTrades()
        # The first snapshot is no trade: what it holds was opened before riskmon looked.
        held = Held.of(snap) if slot is None else Held(seen.ids, seen.pnls)
        trades = trades_between(held, before.last_balance, snap)
        now = {p.id for p in snap.positions}
        closed = [(pid, sym) for pid, sym in zip(seen.ids, seen.symbols, strict=True) if pid not in now]
        if slot is None:
            closed = []
        moves = [("opened", p.symbol, p.id) for p in trades.opened] + [("closed", s, pid) for pid, s in closed]
        windows = self.open_windows(snap.ts)
        window, traded = seen.window, seen.traded
        if window is not None and not any(w.event.at == window for w in windows):
            window, traded = None, ()  # that window has ended
        for w in windows:
            hits = [f"{what} {sym} #{pid}" for what, sym, pid in moves if self.affected(sym, w.event.currency)]
            if hits:
                window, traded = w.event.at, traded + tuple(hits)
        current = Held.of(snap)
        return replace(
            seen,
            ids=current.ids,
            pnls=current.pnls,
            symbols=tuple(p.symbol for p in snap.positions),
            window=window,
            traded=traded,
        )

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        seen: NewsTrades = NewsTrades.restore(state.slots.get(self.name)) or NewsTrades()
        windows = self.open_windows(snap.ts)
        upcoming = self.next_window(snap.ts)
        lead = timedelta(minutes=self.spec.lead_minutes)

        def exposed(window: Window) -> list[str]:
            return [p.symbol for p in snap.positions if self.affected(p.symbol, window.event.currency)]

        inside = next((w for w in windows if exposed(w)), windows[0] if windows else None)
        soon = upcoming if upcoming is not None and upcoming.start - snap.ts <= lead else None
        if seen.window is not None and seen.traded:
            severity = Severity.CRITICAL
        elif (inside is not None and exposed(inside)) or (soon is not None and exposed(soon)):
            severity = Severity.WARNING
        else:
            severity = Severity.OK
        to_go = Decimal(str(round((upcoming.start - snap.ts).total_seconds() / 60, 1))) if upcoming else Decimal(0)

        def describe() -> str:
            if severity is Severity.CRITICAL:
                return f"traded inside a news window: {', '.join(seen.traded)}"
            if inside is not None:
                held = exposed(inside)
                event = f"{inside.event.currency} {inside.event.title} at {inside.event.at:%H:%M %Z}"
                text = f"news window open until {inside.end:%H:%M} UTC ({event}): "
                text += f"open or close no {inside.event.currency} trade"
                return text + (f"; a stop or target filling now counts ({', '.join(held)} held)" if held else "")
            if upcoming is None:
                return "no listed release ahead (is the calendar current?)"
            text = (
                f"next window {upcoming.start:%Y-%m-%d %H:%M} UTC in {to_go} minutes "
                f"({upcoming.event.currency} {upcoming.event.title})"
            )
            return text + (f"; {', '.join(exposed(soon))} held" if soon is not None and exposed(soon) else "")

        return RuleResult(self.name, severity, to_go, Decimal(self.spec.lead_minutes), describe, unit="minutes")


def _describe(spec: NewsSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    return (
        f"no trade opened or closed from {spec.before_minutes} minutes before to {spec.after_minutes} minutes after "
        f"a {'/'.join(spec.impact)}-impact release on the symbols it moves ({len(spec.events)} releases listed); "
        f"warns {spec.lead_minutes} minutes ahead with positions open"
    )


PLUGIN: Plugin[NewsSpec] = Plugin(
    NEWS,
    NewsSpec,
    NewsSpec(),
    build=lambda spec, book: NewsRule(spec) if spec.enabled else None,
    describe=_describe,
)
