"""Each account's equity over the trading day, downsampled, kept in the store for charts.

One point per ``BUCKET`` of platform time: the lowest equity seen in it (a floor touch never disappears
in the downsampling), the last equity, and every money floor the rules reported (generic: whichever rules
have one, by name). A bucket is written to the store when it closes and at shutdown, so the day's chart
after a restart still starts at the trading day's start; at most the open bucket is lost to a crash.

The observer runs on the event loop and only ever replaces its per-account ``Day`` (never edits one),
so a read model capture may hold a reference and read it anywhere.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import NamedTuple

from riskmon.models import AlertEvent, RuleResult
from riskmon.monitor import Evaluation
from riskmon.store import Store

log = logging.getLogger(__name__)

BUCKET = timedelta(minutes=5)
KEEP_DAYS = 31  # older days are dropped from the store
MAX_UNSAVED = 100_000  # closed buckets kept in memory while the store cannot be written

HISTORY_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE equity_history (
        account TEXT NOT NULL,
        day TEXT NOT NULL,
        ts REAL NOT NULL,
        low REAL NOT NULL,
        close REAL NOT NULL,
        floors TEXT NOT NULL,
        PRIMARY KEY (account, ts)
    );
    CREATE INDEX equity_history_day ON equity_history (account, day);
    """,
)

Floors = tuple[tuple[str, float], ...]  # (rule, equity floor) for every rule with a money floor


class Point(NamedTuple):
    """One bucket: its start (Unix seconds), the lowest and the last equity seen in it, the floors at its end."""

    ts: float
    low: float
    close: float
    floors: Floors


class Day(NamedTuple):
    """An account's points for one trading day, oldest first; ``open`` is the bucket still filling."""

    day: date
    points: tuple[Point, ...]
    open: Point | None

    @property
    def all(self) -> tuple[Point, ...]:
        return self.points if self.open is None else (*self.points, self.open)


def floors_of(results: Sequence[RuleResult]) -> Floors:
    return tuple((r.rule, float(r.floor)) for r in results if r.floor is not None and r.floor.is_finite())


def _bucket(ts: datetime) -> float:
    seconds = BUCKET.total_seconds()
    return ts.timestamp() // seconds * seconds


class EquityHistory:
    """Observer: folds each evaluation into its account's day, and writes closed buckets to the store."""

    def __init__(self, store: Store, accounts: Sequence[str] = ()) -> None:
        self.store = store
        store.migrate("history", HISTORY_MIGRATIONS)
        self._days: dict[str, Day] = {}
        self._unsaved: list[tuple[str, date, Point]] = []  # closed buckets a failed write left behind
        for account in accounts:
            self._days.update(self._load(account))

    def _load(self, account: str) -> dict[str, Day]:
        """The latest stored day of ``account`` (the monitor tells whether it is still today)."""
        try:
            rows = self.store.db.execute(
                "SELECT day, ts, low, close, floors FROM equity_history WHERE account = ? AND day = "
                "(SELECT MAX(day) FROM equity_history WHERE account = ?) ORDER BY ts",
                (account, account),
            ).fetchall()
        except sqlite3.Error as exc:
            log.error("%s: equity history unreadable (%s); today's chart starts now", account, exc)
            return {}
        if not rows:
            return {}
        points = tuple(Point(ts, low, close, _floors(text)) for _, ts, low, close, text in rows)
        day = date.fromisoformat(rows[0][0])
        return {account: Day(day, points, None)}

    def day(self, account: str) -> Day | None:
        """The account's current day (an immutable value: safe to read from any thread)."""
        return self._days.get(account)

    def points_of(self, account: str, day: date) -> tuple[Point, ...]:
        """``account``'s points of ``day``: the current day from memory, an earlier one from the store."""
        current = self._days.get(account)
        if current is not None and current.day == day:
            return current.all
        rows = self.store.db.execute(
            "SELECT ts, low, close, floors FROM equity_history WHERE account = ? AND day = ? ORDER BY ts",
            (account, day.isoformat()),
        ).fetchall()
        return tuple(Point(ts, low, close, _floors(text)) for ts, low, close, text in rows)

    def days(self) -> dict[str, Day]:
        """Every account's day, as they are now (a copy: the values are immutable, the mapping is not)."""
        return self._days.copy()

    def observe(self, evaluation: Evaluation) -> None:
        snap, state = evaluation.snapshot, evaluation.state
        if snap.keepalive or state.trading_day is None:
            return  # a keepalive re-sends old figures: not a new point
        account = snap.account
        current = self._days.get(account)
        ts = _bucket(snap.ts)
        equity = float(snap.equity)
        floors = floors_of(evaluation.results)
        if current is None or current.day < state.trading_day:
            if current is not None and current.open is not None:
                self._save(account, current.day, current.open)
            self._days[account] = Day(state.trading_day, (), Point(ts, equity, equity, floors))
            return
        if current.day > state.trading_day:
            return  # a late snapshot of the previous day
        point = current.open
        if point is not None and point.floors == floors:
            floors = point.floors  # one tuple shared by the points of a day (memory at 10,000 accounts)
        if point is None or ts > point.ts:
            points = current.points
            if point is not None:
                self._save(account, current.day, point)
                points = (*points, point)
            self._days[account] = current._replace(points=points, open=Point(ts, equity, equity, floors))
        elif ts == point.ts:
            opened = Point(ts, min(point.low, equity), equity, floors)
            self._days[account] = current._replace(open=opened)
        # older than the open bucket (a late snapshot): the alerts saw it; the chart's buckets are closed

    def notify(self, events: Sequence[AlertEvent]) -> None:
        pass

    async def run(self) -> None:
        """Nothing runs beside the service: buckets are written as they close (a ``Component`` for ``aclose``)."""

    async def aclose(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Write every open bucket (at shutdown): the chart after a restart misses nothing seen."""
        for account, day in self._days.items():
            if day.open is not None:
                self._save(account, day.day, day.open)

    def _save(self, account: str, day: date, point: Point) -> None:
        self._unsaved.append((account, day, point))
        del self._unsaved[:-MAX_UNSAVED]  # a long outage keeps the latest buckets
        rows = [(a, d.isoformat(), p.ts, p.low, p.close, json.dumps(dict(p.floors))) for a, d, p in self._unsaved]
        try:
            with self.store.transaction() as db:
                db.executemany(
                    "INSERT INTO equity_history (account, day, ts, low, close, floors) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(account, ts) DO UPDATE SET low = min(low, excluded.low), close = excluded.close, "
                    "floors = excluded.floors",
                    rows,
                )
                oldest = (day - timedelta(days=KEEP_DAYS)).isoformat()
                db.execute("DELETE FROM equity_history WHERE account = ? AND day < ?", (account, oldest))
        except sqlite3.Error as exc:  # kept and written with the next bucket; the state alarm tells the outage
            if len(self._unsaved) == 1:
                log.warning("%s: equity history not saved (%s); kept in memory", account, exc)
            return
        self._unsaved.clear()


def _floors(text: str) -> Floors:
    try:
        doc = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(doc, dict):
        return ()
    return tuple((str(rule), float(value)) for rule, value in doc.items() if isinstance(value, int | float))
