"""The read model: one AccountView per account, every rule generically, the day's equity kept across restarts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from riskmon.history import BUCKET, EquityHistory
from riskmon.models import Severity, TradingState
from riskmon.store import MEMORY, Store
from riskmon.view import Freshness
from tests.builders import snap, ts
from tests.statuspage import START, desk

D = Decimal


def test_every_rule_is_listed_by_its_own_name_with_the_engines_figures() -> None:
    d = desk()
    view = d.model.capture()
    a = view.find("ftmo-100k")
    assert a is not None and a.last is not None
    assert [r.rule for r in a.rules] == [rule.name for rule in a.profile.rules]  # every rule, in rulebook order
    assert a.rules == a.last.results  # the engine's own verdicts, nothing recomputed
    daily = next(r for r in a.rules if r.rule == "daily_loss")
    assert (daily.observed, daily.room_left, daily.floor) == (D(4500), D(500), D(95000))
    assert a.nearest is daily  # 500 left before the daily floor, 5,500 before the overall one
    assert {r.rule for r in a.floors} == {"daily_loss", "max_loss"}
    assert a.worst is daily and a.severity is Severity.WARNING
    assert a.daily_pnl == D(-4500) and a.currency == "USD"
    assert a.trading is TradingState.REDUCING
    calm = view.find("calm")
    assert calm is not None and calm.worst is None and calm.severity is Severity.OK and calm.daily_pnl == D(100)


def test_freshness_loading_then_fresh_then_stale() -> None:
    d = desk()
    silent, calm = d.model.capture().find("silent"), d.model.capture().find("calm")
    assert silent is not None and silent.freshness is Freshness.LOADING and silent.last is None
    assert calm is not None and calm.freshness is Freshness.FRESH and calm.silence_s == 0
    d.clock.advance(61)
    calm = d.model.capture().find("calm")
    assert calm is not None and calm.freshness is Freshness.STALE and calm.silence_s == 61


def test_a_capture_is_immutable_while_the_monitors_go_on() -> None:
    d = desk()
    view = d.model.capture()
    d.clock.advance(BUCKET.total_seconds())
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100000", "90000", account="calm"))
    before, after = view.find("calm"), d.model.capture().find("calm")
    assert before is not None and before.last is not None and before.last.snapshot.equity == D(100100)
    assert after is not None and len(before.equity_today) == len(after.equity_today) - 1
    assert before.equity_today[-1].close == 100100.0 and after.equity_today[-1].close == 90000.0


def test_history_keeps_the_low_and_the_close_of_each_bucket_and_every_floor() -> None:
    d = desk()
    a = d.model.capture().find("ftmo-100k")
    assert a is not None
    points = a.equity_today
    minutes = BUCKET.total_seconds() / 60
    assert len(points) == int(180 / minutes) + 1  # 08:00 to 11:00 in buckets, the last one still open
    first = points[0]
    assert first.ts == START.timestamp()
    assert (first.low, first.close) == (99900.0, 99900.0)  # 08:00, 08:02, 08:04 in the first bucket
    assert dict(first.floors) == {"daily_loss": 95000.0, "max_loss": 90000.0}
    assert points[-1].close == 95500.0 and points[-1].low == 95500.0
    assert all(p.low <= p.close for p in points)
    d.clock.advance(60)  # a dip and a recovery within the open bucket: the chart keeps the dip
    d.monitor("ftmo-100k").process(snap(d.clock.now().isoformat(), "100000", "95100", account="ftmo-100k"))
    d.clock.advance(60)
    d.monitor("ftmo-100k").process(snap(d.clock.now().isoformat(), "100000", "95600", account="ftmo-100k"))
    a = d.model.capture().find("ftmo-100k")
    assert a is not None and (a.equity_today[-1].low, a.equity_today[-1].close) == (95100.0, 95600.0)
    assert d.store.schema_version("history") == 1


def test_a_keepalive_and_a_late_snapshot_add_no_point() -> None:
    d = desk()
    before = d.model.capture().find("calm")
    assert before is not None
    calm = d.monitor("calm")
    calm.process(snap(d.clock.now().isoformat(), "100000", "100100", account="calm", keepalive=True))
    calm.process(snap((d.clock.now() - timedelta(minutes=3)).isoformat(), "100000", "80000", account="calm"))
    after = d.model.capture().find("calm")
    assert after is not None and after.equity_today == before.equity_today


def test_a_new_trading_day_starts_a_new_chart() -> None:
    d = desk()
    d.clock.set(ts("2026-03-03 00:01"))
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100100", account="calm"))
    calm = d.model.capture().find("calm")
    assert calm is not None and len(calm.equity_today) == 1 and calm.equity_today[0].close == 100100.0
    html = d.model.capture().find("html")  # no data on the new day yet: its last day (and chart) still shows
    assert html is not None and html.history is not None and html.equity_today != ()


def test_the_day_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    d = desk(db)
    before = d.model.capture().find("ftmo-100k")
    assert before is not None
    d.history.flush()  # what the service's shutdown does
    d.store.close()
    store = Store(db)
    history = EquityHistory(store, ["ftmo-100k"])
    day = history.day("ftmo-100k")
    assert day is not None and day.all == before.equity_today  # the whole day, floors included
    store.close()


def test_an_unwritable_store_keeps_closed_buckets_for_the_next_write(tmp_path: Path) -> None:
    store = Store(MEMORY)
    history = EquityHistory(store)
    store.db.execute("DROP TABLE equity_history")  # every write now fails
    d = desk()
    d.history = history
    for monitor in d.monitors:
        monitor.observers = [history]
    d.clock.advance(600)
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100000", account="calm"))
    d.clock.advance(600)
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100000", account="calm"))
    assert len(history._unsaved) == 1  # kept, not lost
    store.db.execute(
        "CREATE TABLE equity_history (account TEXT, day TEXT, ts REAL, low REAL, close REAL, floors TEXT, "
        "PRIMARY KEY (account, ts))"
    )
    d.clock.advance(600)
    d.monitor("calm").process(snap(d.clock.now().isoformat(), "100000", account="calm"))
    assert history._unsaved == []
    assert store.db.execute("SELECT COUNT(*) FROM equity_history").fetchone()[0] == 2


@pytest.mark.parametrize("value", ["not json", "[1, 2]", '{"daily_loss": "x"}'])
def test_a_corrupt_floors_record_reads_as_no_floors(value: str) -> None:
    store = Store(MEMORY)
    EquityHistory(store)
    store.db.execute(
        "INSERT INTO equity_history VALUES ('calm', '2026-03-02', ?, 1.0, 2.0, ?)", (START.timestamp(), value)
    )
    day = EquityHistory(store, ["calm"]).day("calm")
    assert day is not None and day.points[0].floors == () and day.points[0].close == 2.0
