"""Charts in Telegram: the daily summary's picture of the day's equity against the floors (from the stored
history, so a restart loses none of the day), and ``/chart <account>`` on demand, through the fake Bot API
(which checks each photo as the Bot API does: an image, within its size limits, a caption of at most 1,024)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskmon.history import BUCKET, EquityHistory
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from tests.builders import snap
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.test_telegram import CHATS, MEMBER, api, debug_logs, ftmo_monitor, notifier, running

__all__ = ["api", "debug_logs"]  # the fixtures, shared with the Telegram tests


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def test_the_daily_summary_carries_the_days_chart_even_after_a_restart(api: FakeTelegram, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    reset = now + timedelta(seconds=1.0)
    if reset.date() != now.date():
        pytest.skip("too close to midnight UTC")
    book = PRESETS["ftmo-2step"].rulebook({"timezone": "UTC", "day_reset": reset.time().isoformat()})
    db = tmp_path / "state.db"
    store = Store(db)
    history = EquityHistory(store, ["acc-1"])
    monitor = ftmo_monitor(store, rulebook=book)
    monitor.observers.append(history)
    # Earlier in the day (buckets apart), before a restart.
    for minutes, equity in ((-30, "100000"), (-20, "96500"), (-10, "97000")):
        monitor.process(snap((now + timedelta(minutes=minutes)).isoformat(), "100000", equity))
    history.flush()  # the service's shutdown
    store.close()

    store = Store(db)
    history = EquityHistory(store, ["acc-1"])
    monitor = ftmo_monitor(store, rulebook=book)
    monitor.observers.append(history)
    telegram = notifier(api, store, {"acc-1": monitor}, history=history)
    async with running(telegram):
        monitor.process(snap(now.isoformat(), "100000", "99500"))
        await api.wait_for(lambda: len(api.sent("sendPhoto")) == len(CHATS), within_s=8)
    photos = api.sent("sendPhoto")
    assert sorted(str(p.params["chat_id"]) for p in photos) == sorted(CHATS)
    day_of = monitor.profile.calendar.day_of(now)
    for chat in CHATS:  # in each chat the summary's text, then its picture
        sent = [c for c in api.calls if c.status == 200 and str(c.params.get("chat_id")) == chat]
        kinds = [(c.method, str(c.params.get("text", "")).startswith("📊")) for c in sent]
        assert kinds == [("sendMessage", True), ("sendPhoto", False)], kinds
    photo = photos[0].params
    assert png_size(photo["photo"]) == (1080, 516)
    assert photo["caption"] == f"FTMO 100k · equity on {day_of.isoformat()} against the floors"
    day = history.points_of("acc-1", day_of)
    assert len(day) >= 3 and day[0].close == 100000.0 and min(p.low for p in day) == 96500.0  # the whole day


async def test_chart_command_answers_with_todays_picture(api: FakeTelegram) -> None:
    store = Store(MEMORY)
    history = EquityHistory(store, ["acc-1"])
    monitor = ftmo_monitor(store)
    monitor.observers.append(history)
    start = datetime.now(UTC).replace(microsecond=0) - 4 * BUCKET
    for n, equity in enumerate(("100000", "98000", "96000", "97500")):
        monitor.process(snap((start + n * BUCKET).isoformat(), "100000", equity))
    model = ReadModel([monitor], history=history)
    telegram = notifier(api, store, {"acc-1": monitor}, views=model.capture)
    async with running(telegram):
        api.command(int(CHATS[0]), MEMBER, "/chart acc-1")
        api.command(int(CHATS[0]), MEMBER, "/chart nobody")
        await api.wait_for(lambda: len(api.sent("sendPhoto")) == 1 and len(api.sent()) >= 1, within_s=8)
    (photo,) = api.sent("sendPhoto")
    assert png_size(photo.params["photo"]) == (1080, 516)
    assert photo.params["caption"].startswith("FTMO 100k · equity on ")
    assert any(c.params["text"].startswith("Usage: /chart &lt;account&gt;") for c in api.sent())
