"""The Enforcer: an observer that turns decisions into broker requests, exactly once, and checks them.

``observe`` only stores the latest evaluation and wakes the account's lane; each configured account
has its own lane (one asyncio task), so a slow broker stalls that account's enforcement and nothing
else. Per step a lane: verifies unsettled actions against a fresh snapshot, asks the pure planner
what to do, records each action under its key *before* sending it, sends, and records the answer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from riskmon.backoff import Backoff
from riskmon.clock import Clock, SystemClock
from riskmon.enforce.events import (
    describe,
    plan_text,
    recovered_event,
    refusal_event,
    transition_event,
    unconfirmed_event,
    with_actions,
)
from riskmon.enforce.journal import Entry, Journal
from riskmon.enforce.plan import FLATTEN, Decision, decide, flatten_trigger, trigger_band
from riskmon.enforce.records import Action, Intent, Kind, Status, TradingStatus
from riskmon.enforce.spec import Mode, Policy
from riskmon.models import AccountSnapshot, AlertEvent, TradingState
from riskmon.monitor import Evaluation
from riskmon.platforms.base import ActionResult, Outcome, Trader
from riskmon.rules.base import ANY_EQUITY, Band
from riskmon.store import Store

log = logging.getLogger(__name__)

EventSink = Callable[[AlertEvent], None]
ACCEPTED = frozenset({Outcome.DONE.value, Outcome.PARTIAL.value, Outcome.NOT_FOUND.value})


FLATTEN_REQUEST, RESUME_REQUEST = "flatten", "resume"


@dataclass
class _Request:
    requested_by: str
    dry_run: bool
    reply: asyncio.Future[str]
    kind: str = FLATTEN_REQUEST


@dataclass
class _Lane:
    account: str
    policy: Policy
    status: TradingStatus
    actions: dict[str, Action]
    latest: Evaluation | None = None
    gen: int = 0  # evaluations observed
    seen: int = 0  # the generation last verified against
    requests: deque[_Request] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def poke(self) -> None:
        self.idle.clear()
        self.wake.set()


class Enforcer:
    def __init__(
        self,
        store: Store,
        policies: Mapping[str, Policy],
        trader_for: Callable[[str], Trader],
        clock: Clock | None = None,
        on_event: EventSink | None = None,
        on_outcome: Callable[[str, Outcome], None] | None = None,
        retry_initial_s: float = 2.0,
        retry_max_s: float = 30.0,
        refused_retry_s: float = 30.0,
        answer_timeout_s: float = 30.0,
    ) -> None:
        self.journal = Journal(store)
        self.trader_for = trader_for
        self.clock = clock or SystemClock()
        self.on_event = on_event
        self.on_outcome = on_outcome  # each broker answer, e.g. for the enforcement-actions metric
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.refused_retry_s = refused_retry_s
        self.answer_timeout_s = answer_timeout_s
        self._lanes = {
            account: _Lane(
                account,
                policy,
                self.journal.status(account),
                {a.key: a for a in self.journal.open_actions(account)},
            )
            for account, policy in policies.items()
        }
        for lane in self._lanes.values():
            lane.poke()  # a restart re-checks whatever it left unsettled

    # -- what others call -------------------------------------------------------------------------

    def observe(self, evaluation: Evaluation) -> None:
        lane = self._lanes.get(evaluation.profile.account)
        if lane is None:
            return
        lane.latest = evaluation
        lane.gen += 1
        lane.poke()

    def notify(self, events: Sequence[AlertEvent]) -> None:
        """Alerts without a new snapshot change nothing the enforcer acts on."""

    def annotate(self, evaluation: Evaluation) -> Evaluation:
        """Say on each alert event what enforcement does or will do about it (an ``Annotator``)."""
        lane = self._lanes.get(evaluation.profile.account)
        if lane is None or not evaluation.events:
            return evaluation
        halt_until = evaluation.profile.calendar.next_reset(evaluation.snapshot.ts)
        return replace(evaluation, events=with_actions(evaluation, lane.policy, lane.status, halt_until))

    def band(self, evaluation: Evaluation) -> Band | None:
        """Equities inside which the enforcer's decision on this account cannot change (the monitor's fast path
        takes it in), or None when it must see every snapshot: reducing or halted, actions in flight, or a
        trigger on prices or margin (deleveraging, a margin level)."""
        lane = self._lanes.get(evaluation.profile.account)
        if lane is None or lane.policy.mode is Mode.OFF:
            return ANY_EQUITY
        policy = lane.policy
        if lane.status.state is not TradingState.ACTIVE or lane.actions or lane.requests:
            return None
        if policy.deleverage or policy.margin_level_below is not None:
            return None
        return trigger_band(evaluation, policy)

    def status(self, account: str) -> TradingStatus:
        return self._lanes[account].status

    def trading_state(self, account: str) -> TradingState:
        return self._lanes[account].status.state

    async def flatten(self, account: str, requested_by: str, dry_run: bool = False) -> str:
        """Close everything and halt ``account`` for the trading day, whatever its mode. One line back."""
        return await self._request(account, _Request(requested_by, dry_run, self._future()))

    async def resume(self, account: str, requested_by: str) -> str:
        """Lift ``account``'s halt (trading state HALTED → ACTIVE), audited. Refused while the automatic
        flatten trigger still holds, since the next snapshot would halt it again. One line back."""
        return await self._request(account, _Request(requested_by, False, self._future(), RESUME_REQUEST))

    @staticmethod
    def _future() -> asyncio.Future[str]:
        return asyncio.get_running_loop().create_future()

    async def _request(self, account: str, request: _Request) -> str:
        lane = self._lanes.get(account)
        if lane is None:
            return f"{account}: not a configured account"
        lane.requests.append(request)
        lane.poke()
        try:
            async with asyncio.timeout(self.answer_timeout_s + 5):
                return await asyncio.shield(request.reply)
        except TimeoutError:
            return f"{account}: {request.kind} requested; the broker has not answered yet (see `riskmon audit`)"

    async def settle(self, account: str) -> None:
        """Wait until the account's lane has nothing left to do right now (tests, CLI)."""
        await self._lanes[account].idle.wait()

    def open_actions(self, account: str) -> list[Action]:
        """Actions not yet settled: sent, awaiting confirmation, refused and waiting to retry, or simulated."""
        return list(self._lanes[account].actions.values())

    def settled(self, account: str) -> bool:
        """No sent action of the account is waiting for an answer or a confirmation."""
        return not any(a.status in (Status.SENT, Status.AWAITING) for a in self._lanes[account].actions.values())

    async def aclose(self) -> None:
        """Shutdown: let every lane finish what it is doing (its records are written as it goes)."""
        await asyncio.gather(*(lane.idle.wait() for lane in self._lanes.values()))

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for lane in self._lanes.values():
                group.create_task(self._work(lane), name=f"enforcer:{lane.account}")

    # -- the lane -----------------------------------------------------------------------------------

    async def _work(self, lane: _Lane) -> None:
        while True:
            if not lane.wake.is_set():
                lane.idle.set()
                try:
                    async with asyncio.timeout(self._due_in(lane)):
                        await lane.wake.wait()
                except TimeoutError:
                    pass
            lane.wake.clear()
            lane.idle.clear()
            try:
                await self._step(lane)
            except Exception as exc:
                # A bug or a broken database must not end the lane: log once, try again on the next wake.
                log.exception("%s: enforcement step failed (%s); retrying", lane.account, type(exc).__name__)
                await asyncio.sleep(self.retry_initial_s)
            if lane.requests:
                lane.poke()

    def _due_in(self, lane: _Lane) -> float | None:
        """Seconds until the next retry is due; None: sleep until woken (nothing due, or no snapshot yet)."""
        due = [a.next_at for a in lane.actions.values() if a.status is Status.RETRY and a.next_at is not None]
        if not due or lane.latest is None:
            return None
        return max(0.0, (min(due) - self.clock.now()).total_seconds())

    async def _step(self, lane: _Lane) -> None:
        request = lane.requests.popleft() if lane.requests else None
        try:
            await self._decide_and_act(lane, request)
        except Exception as exc:
            if request and not request.reply.done():
                request.reply.set_result(f"{lane.account}: {request.kind} failed ({type(exc).__name__}: {exc})")
            raise

    async def _decide_and_act(self, lane: _Lane, request: _Request | None) -> None:
        ev = lane.latest
        if ev is None:
            if request:
                request.reply.set_result(f"{lane.account}: no snapshot yet, nothing known to {request.kind}")
            return
        if lane.gen > lane.seen:
            lane.seen = lane.gen
            self._verify(lane, ev.snapshot)
        now = self.clock.now()
        who = request.requested_by if request else None
        resume = request is not None and request.kind == RESUME_REQUEST
        if request and resume and (refusal := self._resume_refusal(lane, ev)):
            entry = Entry(now, lane.account, ev.state.trading_day, "manual", refusal, detail={"by": who or ""})
            self.journal.audit(entry)  # a refused resume is on the record too
            request.reply.set_result(refusal)
            return
        actions = list(lane.actions.values())
        if resume:
            decision = decide(ev, lane.policy, lane.status, actions, now, resume=who)
        else:
            decision = decide(ev, lane.policy, lane.status, actions, now, manual=who)
        if request and request.dry_run:
            request.reply.set_result(self._preview(lane, ev, decision, who or ""))
            return
        self._apply(lane, ev, decision)
        retries = [_replanned(lane.actions[key], ev.snapshot) for key in decision.retry]
        await asyncio.gather(
            *(self._send(lane, ev, intent) for intent in decision.intents),
            *(self._send(lane, ev, a.intent, a) for a in retries),
        )
        if request:
            request.reply.set_result(
                f"{lane.account}: {lane.status.reason}; trading allowed again" if resume else self._summary(lane, ev)
            )

    # -- decisions and their records ----------------------------------------------------------------

    def _apply(self, lane: _Lane, ev: Evaluation, decision: Decision) -> None:
        now = self.clock.now()
        day = ev.state.trading_day
        for key in decision.expire:
            action = lane.actions.pop(key)
            text = f"{describe(action.intent)}: no longer needed ({action.status.value} when its reason went away)"
            self._save(replace(action, status=Status.EXPIRED), Entry(now, lane.account, day, "expire", text, key))
            log.info("%s: %s", lane.account, text)
        for transition in decision.transitions:
            new = transition.status
            text = f"trading {transition.before.value} → {new.state.value}: {new.reason}"
            entry = Entry(now, lane.account, day, "transition", text, detail={"live": str(new.live)})
            self.journal.save_status(lane.account, new, entry)
            log.warning("%s: %s", lane.account, text)
            lane.status = new
            halt_until = ev.profile.calendar.next_reset(ev.snapshot.ts)
            self._emit(transition_event(lane.account, ev.profile.label, transition, decision.intents, now, halt_until))
        if decision.status != lane.status:  # a quiet change, such as REDUCING carried into a new day
            lane.status = decision.status
            entry = Entry(now, lane.account, day, "transition", f"{decision.status.state.value} carried into {day}")
            self.journal.save_status(lane.account, decision.status, entry)

    def _verify(self, lane: _Lane, snap: AccountSnapshot) -> None:
        """Settle what a snapshot taken after the answer can confirm; what it cannot is sent again later."""
        now = self.clock.now()
        for action in list(lane.actions.values()):
            if not action.status.in_flight or action.answer_gen >= lane.gen:
                continue
            if action.status is Status.AWAITING and action.next_at is not None and action.next_at > now:
                continue  # the rest of a partly done close waits for the broker's retry-after, in flight
            day, text = action.trading_day, describe(action.intent)
            if _confirmed(action.intent, snap):
                lane.actions.pop(action.key)
                self._save(
                    replace(action, status=Status.DONE),
                    Entry(now, lane.account, day, "verify", f"{text}: confirmed", action.key),
                )
                log.info("%s: %s confirmed by a fresh snapshot", lane.account, text)
                if action.alerted:
                    self._emit(recovered_event(action, self._label(lane), now))
            elif action.status is not Status.RETRY:
                delay = self._backoff(action.attempts)
                if action.status is Status.SENT and action.next_at is not None:
                    # Unanswered, from before a restart: the request may still be on its way or queued at
                    # the broker. Not sent again before its answer would have been due.
                    delay = max(delay, (action.next_at - now).total_seconds())
                elif action.outcome == Outcome.UNKNOWN.value:
                    # No clear answer (a timeout, an order placed but not yet filled): it may still execute.
                    # Sending it again sooner than an answer could take would risk closing twice.
                    delay = max(delay, self.answer_timeout_s)
                retry = replace(action, status=Status.RETRY, next_at=now + timedelta(seconds=delay))
                message = f"{text}: still open after {action.outcome or 'no answer'}; sending again in {delay:.0f} s"
                if not action.alerted:
                    retry = replace(retry, alerted="unconfirmed")
                    self._emit(unconfirmed_event(retry, message, self._label(lane), now))
                lane.actions[action.key] = retry
                self._save(retry, Entry(now, lane.account, day, "verify", message, action.key))
                log.warning("%s: %s", lane.account, message)

    async def _send(self, lane: _Lane, ev: Evaluation, intent: Intent, retry: Action | None = None) -> None:
        now = self.clock.now()
        day = ev.state.trading_day
        assert day is not None
        text = describe(intent)
        try:
            key = retry.key if retry else self.journal.next_key(lane.account, day, intent)
            if not intent.live:
                action = Action(key, lane.account, day, intent, Status.SIMULATED)
                self._save(
                    action, Entry(now, lane.account, day, "plan", f"dry run, not sent: {text} ({intent.reason})", key)
                )
                lane.actions[key] = action
                log.warning("%s: dry run, not sent: %s (%s)", lane.account, text, intent.reason)
                return
            attempts = retry.attempts + 1 if retry else 1
            base = retry or Action(key, lane.account, day, intent, Status.SENT)
            # While SENT, ``next_at`` is when the answer is due: a restart must not send it again sooner.
            answer_due = now + timedelta(seconds=self.answer_timeout_s)
            action = replace(base, status=Status.SENT, attempts=attempts, next_at=answer_due)
            request = Entry(now, lane.account, day, "request", f"{text} (attempt {attempts})", key)
            if retry:
                self._save(action, request)
            else:
                self._save(action, Entry(now, lane.account, day, "decision", f"{text}: {intent.reason}", key), request)
        except sqlite3.Error as exc:
            log.error("%s: cannot record %s (%s); not sent, will try again", lane.account, text, exc)
            return
        lane.actions[key] = action
        log.warning("%s: sending %s (attempt %d)", lane.account, text, attempts)
        result = await self._call(lane.account, intent)
        self._answer(lane, action, result)

    async def _call(self, account: str, intent: Intent) -> ActionResult:
        trader = self.trader_for(account)
        try:
            async with asyncio.timeout(self.answer_timeout_s):
                if intent.kind is Kind.CANCEL:
                    return await trader.cancel_order(account, intent.target)
                return await trader.close_position(account, intent.target, intent.volume)
        except TimeoutError:
            return ActionResult(Outcome.UNKNOWN, f"no answer within {self.answer_timeout_s:.0f} s")
        except Exception as exc:
            # The request may or may not have reached the broker: treated as unanswered, verified first.
            log.error("%s: trader failed on %s (%s: %s)", account, describe(intent), type(exc).__name__, exc)
            return ActionResult(Outcome.UNKNOWN, f"trader raised {type(exc).__name__}: {exc}")

    def _answer(self, lane: _Lane, action: Action, result: ActionResult) -> None:
        if self.on_outcome is not None:
            self.on_outcome(lane.account, result.outcome)
        now = self.clock.now()
        intent = action.intent
        if result.outcome.verify:
            partly = result.outcome is Outcome.PARTIAL or (result.ok and intent.volume is not None)
            if partly and result.closed_volume is not None:
                intent = _partially(intent, result)
            # a partly done close whose rest met a rate limit: the rest is not sent before the broker's retry-after
            wait = None if result.retry_after is None else now + timedelta(seconds=result.retry_after)
            updated = replace(action, status=Status.AWAITING, intent=intent, answer_gen=lane.gen, next_at=wait)
            if result.outcome is Outcome.PARTIAL and action.alerted != result.outcome.value:
                updated = replace(updated, alerted=result.outcome.value)
                self._emit(refusal_event(updated, result, self._label(lane), now, None))
        else:
            # Never widened: the same intent is re-planned from a fresh snapshot when it is due again.
            delay = self.refused_retry_s if result.outcome.standing else self._backoff(action.attempts)
            delay = max(delay, result.retry_after or 0.0)
            updated = replace(action, status=Status.RETRY, answer_gen=lane.gen, next_at=now + timedelta(seconds=delay))
            if action.alerted != result.outcome.value:
                updated = replace(updated, alerted=result.outcome.value)
                self._emit(refusal_event(updated, result, self._label(lane), now, delay))
        updated = replace(updated, outcome=result.outcome.value, message=result.message)
        code = f" [{result.code}]" if result.code else ""
        text = f"{describe(action.intent)}: {result.outcome.value}{code} {result.message}".rstrip()
        detail = {"outcome": result.outcome.value, "code": result.code, "closed_volume": str(result.closed_volume)}
        if result.retry_after is not None:
            detail["retry_after"] = f"{result.retry_after:g}"
        entry = Entry(now, lane.account, action.trading_day, "answer", text, action.key, detail)
        try:
            self._save(updated, entry)
        except sqlite3.Error as exc:
            log.error("%s: cannot record the answer to %s (%s); it will be verified", lane.account, action.key, exc)
        if action.key in lane.actions:
            lane.actions[action.key] = updated
        (log.info if result.ok else log.warning)("%s: %s", lane.account, text)

    # -- helpers ------------------------------------------------------------------------------------

    def _save(self, action: Action, *entries: Entry) -> None:
        self.journal.save_action(action, *entries)

    def _emit(self, event: AlertEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:
            log.exception("%s: enforcement event sink failed", event.account)

    def _backoff(self, attempts: int) -> float:
        return Backoff(self.retry_initial_s, self.retry_max_s).delay(attempts - 1)

    def _label(self, lane: _Lane) -> str:
        return lane.latest.profile.label if lane.latest else ""

    def _preview(self, lane: _Lane, ev: Evaluation, decision: Decision, who: str) -> str:
        text = f"{lane.account}: flatten plan (dry run, nothing sent): {plan_text(decision.intents)}"
        for intent in decision.intents:
            text += f"\n  - {describe(intent)}"
        self.journal.audit(
            Entry(self.clock.now(), lane.account, ev.state.trading_day, "plan", text, detail={"by": who})
        )
        return text

    def _resume_refusal(self, lane: _Lane, ev: Evaluation) -> str:
        """Why a halt cannot be lifted now, or "" when it can."""
        status = lane.status
        if status.state is not TradingState.HALTED:
            return f"{lane.account}: trading is {status.state.value}, not halted; nothing to lift"
        same_day = status.trading_day == ev.state.trading_day  # an older halt lifts with the new day anyway
        hit = flatten_trigger(ev, lane.policy) if same_day and lane.policy.mode is not Mode.OFF else None
        if hit is not None:
            return (
                f"{lane.account}: not resumed: {hit[1]}; the enforcer would halt it again at once "
                "(it stays halted until the next reset; a failed account until `riskmon acknowledge` first)"
            )
        return ""

    def _summary(self, lane: _Lane, ev: Evaluation) -> str:
        """One line for whoever asked: what the broker made of every flatten action still open."""
        until = f"trading halted until {ev.profile.calendar.next_reset(ev.snapshot.ts):%Y-%m-%d %H:%M} UTC"
        mine = [a for a in lane.actions.values() if a.intent.policy == FLATTEN and a.intent.live]
        if not mine:
            return f"{lane.account}: nothing open to flatten; {until}"
        accepted = [a for a in mine if a.status is Status.AWAITING and a.outcome in ACCEPTED]
        refused = [a for a in mine if a.status is Status.RETRY]
        parts = [f"{len(accepted)} of {len(mine)} accepted"]
        if refused:
            parts.append(f"{len(refused)} refused ({', '.join(sorted({a.outcome for a in refused}))}), retrying")
        if unanswered := len(mine) - len(accepted) - len(refused):
            parts.append(f"{unanswered} unanswered, checked against the next snapshot")
        return f"{lane.account}: flatten sent, {'; '.join(parts)}; {until}"


def _confirmed(intent: Intent, snap: AccountSnapshot) -> bool:
    if intent.kind is Kind.CANCEL:
        return all(o.id != intent.target for o in snap.orders)
    position = next((p for p in snap.positions if p.id == intent.target), None)
    if position is None:
        return True
    if intent.volume is None or intent.volume_before is None:
        return False
    return position.volume <= intent.volume_before - intent.volume


def _partially(intent: Intent, result: ActionResult) -> Intent:
    """What was closed, verified against the volume the position had when it was planned."""
    return replace(intent, volume=result.closed_volume)


def _replanned(action: Action, snap: AccountSnapshot) -> Action:
    """An action due again, re-planned from the latest snapshot: the same target, never more.

    A partial close keeps the volume it was meant to leave open (the position may have changed since it
    was planned); a full close stays full (it closes whatever is open). A refusal means the broker did
    not act, so the latest snapshot is as good as one taken after it; an unconfirmed action has already
    been checked against a snapshot taken after its answer.
    """
    intent = action.intent
    if intent.kind is Kind.CLOSE and intent.volume is not None and intent.volume_before is not None:
        position = next((p for p in snap.positions if p.id == intent.target), None)
        if position is not None and position.volume != intent.volume_before:
            left = intent.volume_before - intent.volume
            intent = replace(intent, volume=position.volume - left, volume_before=position.volume)
    return replace(action, intent=intent)
