"""The replay parser against hostile input (issue 15 findings 7, 11, 12), by example and by fuzzing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskmon.clock import ManualClock
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor
from riskmon.platforms.replay import BadLine, RecordError, ReplayFeed, parse_line, read_records
from riskmon.profile import AccountProfile
from riskmon.rules import Rulebook
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from tests.builders import D, ts

GOOD = b'{"ts": "2026-03-02T09:30:00Z", "account": "a", "balance": "100000", "equity": "99000"}\n'
NOT_UTF8 = b'{"ts": "2026-03-02T09:31:00Z", "account": "\xff\xfe", "balance": "1", "equity": "1"}\n'
NESTED = b"[" * 100_000 + b"\n"


def write(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_a_line_of_invalid_utf8_is_one_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, NOT_UTF8, GOOD)
    with path.open(encoding="utf-8") as stream:  # as `riskmon replay` opens it
        items = list(read_records(stream))
    assert [type(i).__name__ for i in items] == ["AccountSnapshot", "BadLine", "AccountSnapshot"]
    assert isinstance(items[1], BadLine) and items[1].number == 2
    assert items[1].reason == "not valid UTF-8 (byte 0xff at column 44)"


def test_a_deeply_nested_line_is_one_bad_line() -> None:
    with pytest.raises(RecordError, match="nested too deeply"):
        parse_line(NESTED.decode())


async def test_the_live_replay_feed_skips_hostile_lines_and_goes_on(tmp_path: Path) -> None:
    feed = ReplayFeed(write(tmp_path, NESTED, GOOD, NOT_UTF8, GOOD), follow=False)
    snaps = [s async for s in feed.snapshots()]  # no exception: PLATFORM=replay is not restarted forever
    assert len(snaps) == 2 and feed.bad_lines == 2


@pytest.mark.parametrize("reset", ["17:00+00:00", "17:00Z", "17:00-05:00"])
def test_a_day_reset_with_an_offset_is_refused_in_one_line(reset: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Rulebook(timezone="America/New_York", day_reset=reset)
    (error,) = refused.value.errors()
    assert "wall-clock time only" in error["msg"]


def test_a_day_reset_without_an_offset_is_accepted() -> None:
    assert Rulebook(timezone="America/New_York", day_reset="17:00").calendar.describe() == "17:00 America/New_York"


# ---- fuzzing: whatever a line holds, it is a snapshot or a bad line, and the monitor never raises ----------

MONITOR_NOW = ts("2026-03-02 12:00")


def monitor() -> AccountMonitor:
    book = PRESETS["ftmo-2step"].rulebook({"position_size": {"enabled": True}, "leverage": {"enabled": True}})
    return AccountMonitor(
        AccountProfile("a", book, initial_balance=D(100000)), Store(MEMORY), clock=ManualClock(MONITOR_NOW)
    )


def judge(line: str | bytes) -> None:
    try:
        snap = parse_line(line)
    except RecordError:
        return
    except ValueError:
        return
    assert isinstance(snap, AccountSnapshot)
    monitor().process(snap)  # evaluated or refused: never an exception


numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e999999999", "-1e-999999999", "NaN", "Infinity", "-0", "1_000", " 5 ", "0x10"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.none(),
)
times = st.one_of(
    st.datetimes(timezones=st.just(ts("2026-01-01 00:00").tzinfo)).map(lambda d: d.isoformat()),  # type: ignore[arg-type]
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2026-03-02T10:00:00", "yesterday"]),
    (st.just(MONITOR_NOW) | st.just(MONITOR_NOW + timedelta(days=3650))).map(lambda d: d.isoformat()),
)
positions = st.fixed_dictionaries(
    {"id": st.text(max_size=3), "symbol": st.text(max_size=6), "side": st.sampled_from(["buy", "sell", "BUY", "x"]),
     "volume": numbers},
    optional={"price": numbers, "notional": numbers, "stop_loss": numbers, "opened_at": times,
              "unrealized_pnl": numbers, "open_price": numbers},
)  # fmt: skip
records = st.fixed_dictionaries(
    {"ts": times, "account": st.just("a"), "balance": numbers, "equity": numbers},
    optional={"margin": numbers, "realized_today": numbers, "leverage": numbers, "received_at": times,
              "positions": st.lists(positions, max_size=3), "orders": st.lists(positions, max_size=2)},
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_fuzz_records_are_evaluated_or_refused(record: dict[str, Any]) -> None:
    judge(json.dumps(record))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_fuzz_arbitrary_lines_are_bad_lines(line: str | bytes) -> None:
    judge(line)
