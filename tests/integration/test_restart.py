"""Kill riskmon mid-day (a real process, a real SQLite file) and restart it: the day's anchor and open
alerts are unchanged; after a missed reset the anchor is rebuilt from the platform's figures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from riskmon.errors import ExitCode
from tests.processes import RiskmonProcess, riskmon_env

CONFIG = """
[[accounts]]
id = "acc-1"
platform = "replay"
replay_file = "{feed}"
label = "FTMO"
preset = "ftmo-2step"
initial_balance = 100000
"""


def append(feed: Path, ts: str, balance: str, equity: str, **extra: str) -> None:
    with feed.open("a") as handle:
        handle.write(json.dumps({"ts": ts, "account": "acc-1", "balance": balance, "equity": equity, **extra}) + "\n")


def stored_state(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute("SELECT state FROM account_state WHERE account = 'acc-1'").fetchone()
    return dict(json.loads(text))


def start(tmp_path: Path) -> RiskmonProcess:
    args = ["run", "--config", str(tmp_path / "riskmon.toml"), "--env-file", os.devnull]
    return RiskmonProcess(args, riskmon_env(tmp_path), tmp_path)


def test_kill_and_restart_keeps_anchor_and_alerts_then_rebuilds_after_a_missed_reset(tmp_path: Path) -> None:
    feed, db = tmp_path / "feed.jsonl", tmp_path / "riskmon.db"
    (tmp_path / "riskmon.toml").write_text(CONFIG.format(feed=feed))
    # Prague midnight of 03-02 is 23:00 UTC on 03-01: riskmon watches the reset happen.
    append(feed, "2026-03-01T22:59:59+00:00", "100000", "100000")
    append(feed, "2026-03-01T23:00:01+00:00", "100000", "100000")
    append(feed, "2026-03-02T09:00:00+00:00", "100000", "95800")  # 4,200 of 5,000 lost: warning

    first = start(tmp_path)
    first.wait_for(lambda line: "WARNING  firing" in line and "daily_loss" in line)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    before = stored_state(db)
    assert before["day_start_balance"] == "100000" and before["anchor_source"] == "observed"
    assert before["alerts"] == {"daily_loss": "warning"}

    # Restarted mid-day after the trader closed losers: balance 97,000 is NOT the new anchor.
    second = start(tmp_path)
    append(feed, "2026-03-02T10:00:00+00:00", "97000", "96000")
    append(feed, "2026-03-02T10:05:00+00:00", "97000", "94999.99")
    breach = second.wait_for(lambda line: "CRITICAL" in line and "daily_loss" in line)
    assert "floor 95,000.00" in breach and "escalated" in breach
    assert not any("firing" in line and "daily_loss" in line for line in second.output()), second.output()
    assert second.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stored_state(db)["day_start_balance"] == "100000"

    # Down across Prague midnight; the platform reports 500 realised since the reset.
    append(feed, "2026-03-03T09:00:00+00:00", "97000", "96500", realized_today="-500")
    third = start(tmp_path)
    # The breach of 03-02 failed the account: it stays failed (latched) across the new day; the anchor moves on.
    third.wait_for(lambda line: "day anchor rebuilt (balance 97500)" in line)
    third.stop(signal.SIGTERM)
    after = stored_state(db)
    assert after["trading_day"] == "2026-03-03"
    assert after["day_start_balance"] == "97500" and after["anchor_source"] == "rebuilt"


def test_second_process_on_the_same_database_is_refused(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    (tmp_path / "riskmon.toml").write_text(CONFIG.format(feed=feed))
    append(feed, "2026-03-02T09:00:00+00:00", "100000", "100000")
    first = start(tmp_path)
    first.wait_for(lambda line: "watching 1 account(s)" in line)
    second = start(tmp_path)
    assert second.proc.wait(20) == ExitCode.ERROR
    message = "\n".join(second.output())
    assert "in use by another riskmon process" in message and "Traceback" not in message
    first.stop(signal.SIGTERM)
