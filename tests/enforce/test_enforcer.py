"""The Enforcer end to end on the simulator, through a recording trader that refuses on command."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from riskmon.enforce import Mode, Policy
from riskmon.enforce.audit import write_csv, write_jsonl
from riskmon.models import AlertStatus, Severity, Side, TradingState
from riskmon.monitor import Evaluation
from riskmon.platforms.base import Outcome
from tests.enforce.rig import ACCOUNT, Rig, running

LIVE = Policy(mode=Mode.LIVE)


def used(evaluation: Evaluation) -> Decimal:
    result = evaluation.result("daily_loss")
    assert result is not None and result.used is not None
    return result.used


def halted(evaluation: Evaluation) -> bool:
    return used(evaluation) >= Decimal("0.9")


async def test_price_walk_through_the_buffer_closes_every_position_once_and_halts(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        before = await rig.walk_until(halted)
        assert len(before.snapshot.positions) == 3
        assert sorted(c.target for c in rig.trader.closes()) == ["1001", "1002", "1003"]
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.HALTED
        for _ in range(5):
            after = await rig.tick()
        assert after.snapshot.positions == ()
        assert len(rig.trader.closes()) == 3  # never twice
        assert rig.enforcer.settled(ACCOUNT)
        halt = [e for e in rig.events if e.details.get("state") == "halted"]
        assert len(halt) == 1 and halt[0].severity is Severity.CRITICAL and halt[0].status is AlertStatus.FIRING
        assert "daily loss" in halt[0].message and "close 3 positions" in halt[0].action
        assert "halted until 2026-03-02 23:00 UTC" in halt[0].action  # midnight in Prague


async def test_alert_events_say_what_the_enforcer_does(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        actions = []
        for _ in range(400):
            evaluation = await rig.tick()
            actions += [(e.rule, e.severity, e.action) for e in evaluation.events]
            if halted(evaluation):
                break
        assert actions == [("daily_loss", Severity.WARNING, "enforcer flattens at 90.0% used")]
        # Seen flat before the gap: the next day's anchor (estimated, never below the last balance seen) is
        # the balance after the closes.
        while (await rig.tick()).snapshot.positions:
            pass
        rig.clock.advance(15 * 3600)
        resolved = (await rig.tick()).events
        assert [(e.rule, e.status) for e in resolved] == [("daily_loss", AlertStatus.RESOLVED)]
        assert resolved[0].action == ""


async def test_a_position_opened_while_halted_is_closed(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        await rig.walk_until(halted)
        await rig.tick()
        sneaky = rig.market.open_position(ACCOUNT, "EURUSD", Side.BUY, Decimal(1))
        await rig.tick()
        assert [c.target for c in rig.trader.closes(sneaky)] == [sneaky]
        assert (await rig.tick()).snapshot.positions == ()


async def test_the_halt_lifts_on_the_next_trading_day(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        await rig.walk_until(halted)
        while (await rig.tick()).snapshot.positions:  # seen flat before the gap (see above)
            pass
        rig.clock.advance(15 * 3600)  # past midnight in Prague (the preset's reset)
        await rig.tick()
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.ACTIVE
        assert rig.events[-1].status is AlertStatus.RESOLVED


async def test_partial_deleveraging_lands_under_the_target(tmp_path: Path) -> None:
    policy = Policy(mode=Mode.LIVE, flatten_at_used=None, deleverage=True)
    rig = Rig(tmp_path / "r.db", policy, rules={"leverage": {"enabled": True}})
    async with running(rig):
        first = await rig.tick()
        lev = first.result("leverage")
        assert lev is not None and lev.observed > 3
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.REDUCING
        assert any(c.volume is not None for c in rig.trader.closes()), "the last cut is a partial close"
        after = await rig.tick()
        lev = after.result("leverage")
        assert lev is not None and lev.observed <= Decimal("1.4")
        assert after.snapshot.positions, "only what was needed was closed"
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.ACTIVE
        states = [e.details["state"] for e in rig.events]
        assert states == ["reducing", "active"]


@pytest.mark.parametrize("refusal", [Outcome.RETRY, Outcome.MARKET_CLOSED, Outcome.REJECTED, Outcome.TRADING_DISABLED])
async def test_a_refused_partial_close_is_never_widened_into_a_full_close(tmp_path: Path, refusal: Outcome) -> None:
    policy = Policy(mode=Mode.LIVE, flatten_at_used=None, deleverage=True)
    rig = Rig(tmp_path / "r.db", policy, rules={"leverage": {"enabled": True}})
    rig.trader.refuse_partial = refusal  # a holiday, a rate limit, a bad volume: the deleverage must stay partial
    async with running(rig):
        await rig.tick()
        partial = next(c for c in rig.trader.closes() if c.volume is not None)
        for _ in range(4):
            await rig.tick()
        again = rig.trader.closes(partial.target)
        assert len(again) > 1, "the refused cut is tried again"
        assert all(c.volume == partial.volume for c in again), "never more than the planned cut"
        assert any(e.details.get("outcome") == refusal.value for e in rig.events)
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.REDUCING
        rig.trader.refuse_partial = None
        await rig.tick()
        await rig.tick()
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.ACTIVE
        assert rig.market.snapshot(ACCOUNT).positions, "only the cut was closed"


async def test_a_refused_partial_close_is_replanned_from_the_fresh_snapshot(tmp_path: Path) -> None:
    """The trader closes part of the position himself meanwhile: the retry closes only what is still over."""
    policy = Policy(mode=Mode.LIVE, flatten_at_used=None, deleverage=True)
    rig = Rig(tmp_path / "r.db", policy, rules={"leverage": {"enabled": True}})
    rig.trader.refuse_partial = Outcome.RETRY
    async with running(rig):
        await rig.tick()
        partial = next(c for c in rig.trader.closes() if c.volume is not None)
        assert partial.volume is not None
        position = next(p for p in rig.market.snapshot(ACCOUNT).positions if p.id == partial.target)
        own = partial.volume / 2
        rig.market.close_position(ACCOUNT, partial.target, own)
        rig.trader.refuse_partial = None
        await rig.tick()
        await rig.tick()
        retried = rig.trader.closes(partial.target)[-1]
        assert retried.volume == partial.volume - own
        left = next(p for p in rig.market.snapshot(ACCOUNT).positions if p.id == partial.target)
        assert left.volume == position.volume - partial.volume


async def test_the_brokers_retry_after_is_honoured(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE, refused_retry_s=0.02)) as rig:
        rig.trader.refuse(Outcome.RETRY, retry_after=30)
        await rig.walk_until(halted)
        assert len(rig.trader.closes()) == 3
        for _ in range(29):
            await rig.tick()
        assert len(rig.trader.closes()) == 3, "nothing sent again before the broker's retry-after"
        rig.trader.reopen()
        await rig.tick()
        await rig.tick()
        assert len(rig.trader.closes()) == 6
        answers = [e for e in rig.enforcer.journal.entries(ACCOUNT) if e.step == "answer"]
        assert answers[0].detail["retry_after"] == "30"


async def test_a_partly_done_close_keeps_the_brokers_retry_after(tmp_path: Path) -> None:
    """A split close closed its first part, then met a rate limit: the rest waits for the broker's retry-after."""
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        rig.trader.fill_at_most, rig.trader.retry_after = Decimal("0.5"), 30
        await rig.walk_until(halted)
        assert len(rig.trader.closes()) == 3
        for _ in range(29):
            await rig.tick()
        assert len(rig.trader.closes()) == 3, "the rest is not sent before the broker's retry-after"
        await rig.tick()
        await rig.tick()
        assert len(rig.trader.closes()) == 6
        assert all(c.volume is None for c in rig.trader.closes()), "the rest of a flatten: whole positions"


async def test_restart_between_request_and_verification_sends_no_second_close(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "r.db", LIVE)
    rig.trader.hang_after_acting = True  # the broker closes, the answer never comes: the process dies
    task = asyncio.create_task(rig.enforcer.run())
    for _ in range(400):
        rig.clock.advance(1)
        rig.market.step()
        ev = rig.monitor.process(rig.market.snapshot(ACCOUNT))
        if halted(ev):
            break
    await asyncio.wait_for(rig.trader.wait_for_calls(3), timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    sent = [a.status.value for a in rig.enforcer.journal.open_actions(ACCOUNT)]
    assert sent == ["sent", "sent", "sent"]

    rig.trader.hang_after_acting = False
    rig.restart()
    async with running(rig):
        await rig.tick()
        await rig.tick()
        assert len(rig.trader.closes()) == 3
        assert rig.enforcer.journal.open_actions(ACCOUNT) == []
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.HALTED
        assert rig.steps().count("verify") == 3


async def test_market_closed_alerts_and_retries_until_it_reopens(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        rig.trader.refuse(Outcome.MARKET_CLOSED)
        await rig.walk_until(halted)
        refusals = [e for e in rig.events if e.details.get("outcome") == "market_closed"]
        assert len(refusals) == 3 and all(e.severity is Severity.CRITICAL for e in refusals)
        assert "could not close position" in refusals[0].message and "retrying every" in refusals[0].action
        await rig.tick()
        await rig.tick()
        assert len(rig.trader.closes()) == 9  # retried, but alerted once per position
        assert len([e for e in rig.events if e.details.get("outcome") == "market_closed"]) == 3
        rig.trader.reopen()
        await rig.tick()
        after = await rig.tick()
        assert after.snapshot.positions == ()
        assert len([e for e in rig.events if e.rule == "enforcement" and e.status is AlertStatus.RESOLVED]) == 3


async def test_dry_run_sends_nothing_but_audits_the_plan(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.DRY_RUN))) as rig:
        await rig.walk_until(halted)
        for _ in range(3):
            await rig.tick()
        assert rig.trader.calls == []
        assert rig.steps().count("plan") == 3  # once per position, not once per snapshot
        halt = next(e for e in rig.events if e.details.get("state") == "halted")
        assert halt.action.startswith("dry run, nothing sent: would close 3 positions")


async def test_manual_flatten_acts_with_mode_off_and_halts_for_the_day(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.OFF))) as rig:
        await rig.walk_until(halted)
        assert rig.trader.calls == []
        preview = await rig.enforcer.flatten(ACCOUNT, "telegram:42", dry_run=True)
        assert "dry run" in preview and rig.trader.calls == []
        line = await rig.enforcer.flatten(ACCOUNT, "telegram:42")
        assert line.startswith(f"{ACCOUNT}: flatten sent, 3 of 3 accepted; trading halted until")
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.HALTED
        assert "manual flatten requested by telegram:42" in rig.enforcer.status(ACCOUNT).reason
        await rig.tick()
        sneaky = rig.market.open_position(ACCOUNT, "GBPUSD", Side.SELL, Decimal(1))
        await rig.tick()
        assert rig.trader.closes(sneaky), "the manual halt is enforced for the rest of the day"


async def test_audit_export_holds_every_step(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        await rig.walk_until(halted)
        await rig.tick()
        lines = io.StringIO()
        count = write_jsonl(rig.enforcer.journal.entries(ACCOUNT), lines)
        records = [json.loads(line) for line in lines.getvalue().splitlines()]
        assert len(records) == count
        assert [r["step"] for r in records].count("transition") == 1
        for step in ("decision", "request", "answer", "verify"):
            assert [r["step"] for r in records].count(step) == 3, step
        table = io.StringIO()
        write_csv(rig.enforcer.journal.entries(ACCOUNT), table)
        rows = list(csv.DictReader(io.StringIO(table.getvalue())))
        assert [r["step"] for r in rows] == [r["step"] for r in records]
        assert rows[0]["account"] == ACCOUNT


async def test_manual_flatten_after_a_dry_run_halt_sends_for_real(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.DRY_RUN))) as rig:
        await rig.walk_until(halted)
        assert rig.trader.calls == []
        line = await rig.enforcer.flatten(ACCOUNT, "cli:ops")
        assert "3 of 3 accepted" in line
        assert sorted(c.target for c in rig.trader.closes()) == ["1001", "1002", "1003"]
        assert rig.enforcer.status(ACCOUNT).live


async def test_a_partly_filled_close_stays_partial_and_the_rest_is_planned_again(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        rig.trader.fill_at_most = Decimal(1)  # the broker closes one lot per request, and says so
        await rig.walk_until(halted)
        await rig.walk_until(lambda ev: ev.snapshot.positions == (), limit=8)
        assert len(rig.trader.closes("1001")) == 4  # one lot per request, each after a snapshot
        assert all(c.volume is None for c in rig.trader.closes())
        partial = [e for e in rig.events if e.details.get("outcome") == "partial"]
        assert {e.details["key"].split("|")[3] for e in partial} == {"close:1001", "close:1003"}
        assert "planned again from the next snapshot" in partial[0].action
        assert not [e for e in rig.events if e.details.get("outcome") == "unconfirmed"]


async def test_a_close_claimed_done_but_still_open_is_unconfirmed_and_sent_again(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE)) as rig:
        rig.trader.fill_at_most = Decimal(1)
        rig.trader.claim_done = True  # the broker says DONE, the snapshot says otherwise
        await rig.walk_until(halted)
        await rig.walk_until(lambda ev: ev.snapshot.positions == (), limit=8)
        assert len(rig.trader.closes("1001")) == 4
        unconfirmed = [e for e in rig.events if e.details.get("outcome") == "unconfirmed"]
        assert {e.details["key"].split("|")[3] for e in unconfirmed} == {"close:1001", "close:1003"}


async def test_an_unanswered_request_is_verified_before_it_is_sent_again(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", LIVE, answer_timeout_s=0.05)) as rig:
        rig.trader.hang_after_acting = True  # acts, then the answer never comes
        await rig.walk_until(halted)
        rig.trader.hang_after_acting = False
        assert [a.outcome for a in rig.enforcer.open_actions(ACCOUNT)] == ["unknown"] * 3
        await rig.tick()
        assert len(rig.trader.closes()) == 3
        assert rig.enforcer.open_actions(ACCOUNT) == []


async def test_an_unknown_answer_is_not_sent_again_before_an_answer_could_have_come(tmp_path: Path) -> None:
    """MT5 PLACED, a cTrader timeout: the order may still execute. Resending at once could close twice."""
    async with running(Rig(tmp_path / "r.db", LIVE, answer_timeout_s=20)) as rig:
        rig.trader.refuse(Outcome.UNKNOWN)  # nothing happens at the broker, and it says nothing clear
        await rig.walk_until(halted)
        assert len(rig.trader.closes()) == 3
        for _ in range(19):
            await rig.tick()
        assert len(rig.trader.closes()) == 3, "not again within the answer timeout"
        unconfirmed = [e for e in rig.events if e.details.get("outcome") == "unconfirmed"]
        assert len(unconfirmed) == 3 and "sending again in 20 s" in unconfirmed[0].message
        rig.trader.reopen()
        await rig.tick()
        await rig.tick()
        assert len(rig.trader.closes()) == 6
        assert (await rig.tick()).snapshot.positions == ()


async def test_a_slow_broker_blocks_only_its_own_account(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "r.db", LIVE, answer_timeout_s=60)
    other = Rig(tmp_path / "other.db", LIVE)
    rig.trader.hang_after_acting = True
    async with running(rig), running(other):
        for _ in range(400):
            rig.clock.advance(1)
            rig.market.step()
            if halted(rig.monitor.process(rig.market.snapshot(ACCOUNT))):
                break
        await asyncio.wait_for(rig.trader.wait_for_calls(3), timeout=5)
        started = asyncio.get_running_loop().time()
        await other.walk_until(halted)
        await other.tick()
        assert (await other.tick()).snapshot.positions == ()
        assert asyncio.get_running_loop().time() - started < 5


async def test_manual_flatten_reports_refusals_and_asking_again_sends_nothing_twice(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.OFF), refused_retry_s=60)) as rig:
        await rig.tick()
        rig.trader.refuse(Outcome.MARKET_CLOSED)
        first = await rig.enforcer.flatten(ACCOUNT, "telegram:42")
        assert "flatten sent, 0 of 3 accepted; 3 refused (market_closed), retrying; trading halted" in first
        again = await rig.enforcer.flatten(ACCOUNT, "telegram:42")
        assert "3 refused (market_closed)" in again
        assert len(rig.trader.closes()) == 3  # the second request found them in hand: nothing re-sent early


async def test_after_a_restart_an_unanswered_close_is_not_sent_again_before_its_answer_was_due(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path / "r.db", LIVE, answer_timeout_s=30.0)
    rig.trader.hang_before_acting = True  # the requests are out, the broker has not acted: the process dies
    task = asyncio.create_task(rig.enforcer.run())
    for _ in range(400):
        rig.clock.advance(1)
        rig.market.step()
        if halted(rig.monitor.process(rig.market.snapshot(ACCOUNT))):
            break
    await asyncio.wait_for(rig.trader.wait_for_calls(3), timeout=5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    rig.trader.hang_before_acting = False
    rig.restart()
    async with running(rig):
        for _ in range(5):  # positions still open, but the old requests may yet be carried out
            evaluation = await rig.tick()
        assert len(evaluation.snapshot.positions) == 3
        assert len(rig.trader.closes()) == 3
        rig.clock.advance(30)  # the answers would have been due by now: send again
        await rig.tick()
        assert sorted(c.target for c in rig.trader.closes()) == ["1001", "1001", "1002", "1002", "1003", "1003"]
        assert (await rig.tick()).snapshot.positions == ()
