"""Rules as plug-ins: the registry, names never written out elsewhere, per-rule state slots that survive a
restart, equity bands that hold, response levels the enforcer acts on, and the shared figures consumers read."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.enforce.journal import Entry, Journal
from riskmon.enforce.plan import decide, flatten_trigger
from riskmon.enforce.records import TradingStatus
from riskmon.enforce.spec import Mode, Policy
from riskmon.engine import equity_band, watched
from riskmon.metrics import StateCollector
from riskmon.models import Severity, TradingState
from riskmon.monitor import AccountMonitor, Evaluation
from riskmon.notify.telegram_format import limits_html
from riskmon.profile import AccountProfile
from riskmon.rules import PLUGINS, Response, Watch, build_rules, describe_rules
from riskmon.rules.enforcement import ENFORCEMENT
from riskmon.rules.flat import FLAT_BY
from riskmon.rules.presets import PRESETS
from riskmon.rules.stale_data import STALE_DATA
from riskmon.state import AccountState
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel
from riskmon.web import accounts_json, page_html
from tests.builders import D, position, preset_monitor, snap, ts

# Every rule on, at figures a snapshot walk crosses.
EVERYTHING: dict[str, Any] = {
    "max_loss": {"enabled": True},
    "leverage": {"enabled": True},
    "max_positions": 2,
    "max_lots": "3",
    "profit_target": {"enabled": True},
    "min_trading_days": 2,
    "weekly_loss": {"enabled": True, "size": "1500"},
    "monthly_loss": {"enabled": True, "size": "4000"},
    "daily_profit": {"enabled": True, "target": "2500", "lock_from": "600", "give_back": "400"},
    "consistency": {"enabled": True},
    "size_limits": {"enabled": True, "per_order": "2", "scaling": [{"profit": "0", "lots": "2"}]},
    "trade_count": {"enabled": True, "per_day": 3, "per_week": 8},
    "losing_streak": {"enabled": True, "losses": 2},
    "flat_by": {"enabled": True, "at": "14:30", "reopen": "16:00"},
    "weekend": {"enabled": True},
    "inactivity": {"enabled": True, "days": 3, "warn_days": 1},
    "news": {"enabled": True, "calendar": str(Path(__file__).resolve().parents[1] / "data" / "news" / "calendar.json")},
}
EVERY_RULE = {p.name for p in PLUGINS}


def test_registry_names_are_unique_and_every_rule_is_built_with_its_plugin_name() -> None:
    assert len(EVERY_RULE) == len(PLUGINS)
    rules = build_rules(PRESETS["basic"].rulebook(EVERYTHING))
    assert {r.name for r in rules} == EVERY_RULE
    for rule in rules:
        assert isinstance(rule.response.kind, Response) and rule.watches <= set(Watch)
    assert [name for name, _ in describe_rules(PRESETS["basic"].rulebook(EVERYTHING))] == [p.name for p in PLUGINS]


def test_no_rule_name_is_written_out_outside_its_own_module() -> None:
    names = EVERY_RULE | {STALE_DATA, ENFORCEMENT}
    root = Path(__file__).resolve().parents[2] / "riskmon"
    # The enforcer's journal names its storage component "enforcement": a table, not the rule.
    enforcer = [p for p in root.glob("enforce/*.py") if p.name != "journal.py"]
    consumers = [*root.glob("notify/*.py"), *enforcer, *root.glob("config*.py")]
    consumers += [
        root / f"{m}.py"
        for m in ("metrics", "monitor", "engine", "exporter", "service", "app", "cli", "view", "web", "history")
    ]
    found = []
    for path in consumers:
        text = path.read_text(encoding="utf-8")
        for name in names:
            # A quoted name, or one starting a dotted path (a figure's provenance key).
            if re.search(rf"[\"']{name}[\"'.]", text):
                found.append(f"{path.relative_to(root)}: {name}")
    assert found == []


def walk() -> list[Any]:
    """Two weeks of snapshots that open and close positions, win and lose, and cross resets and a weekend."""
    snaps = []
    balance = D(100000)
    for day in range(2, 16):
        for hour, pnl, held in ((8, "0", ("a",)), (12, "-150", ()), (15, "250", ("b", "c")), (22, "400", ())):
            at = f"2026-03-{day:02d} {hour:02d}:00"
            if not held:
                balance += D(pnl)
            positions = tuple(position(f"{p}{day}", volume="1.5", notional="120000") for p in held)
            snaps.append(snap(at, balance, balance + (D(pnl) if held else 0), margin="1000", positions=positions))
    return snaps


def test_rule_slots_survive_a_restart_with_identical_results(tmp_path: Path) -> None:
    recording = walk()
    book = PRESETS["basic"].rulebook(EVERYTHING)

    def monitor(store: Store) -> AccountMonitor:
        profile = AccountProfile("acc-1", book, initial_balance=D(100000))
        return AccountMonitor(profile, store, persist_interval=timedelta(0))

    straight = monitor(Store(MEMORY))
    expected = [straight.process(s) for s in recording]
    half = len(recording) // 2
    store = Store(tmp_path / "s.db")
    first = monitor(store)
    got = [first.process(s) for s in recording[:half]]
    store.close()
    store = Store(tmp_path / "s.db")
    again = monitor(store)
    assert again.state is not None and set(again.state.slots) >= {"weekly_loss", "trade_count", "inactivity"}
    got += [again.process(s) for s in recording[half:]]
    store.close()

    def verdicts(evs: list[Evaluation | None]) -> list[list[tuple[str, Severity, str]]]:
        return [[(r.rule, r.severity, r.message) for r in ev.results] for ev in evs if ev is not None]

    assert verdicts(got) == verdicts(expected)
    assert {r.rule for ev in expected if ev for r in ev.results if r.failing} >= {
        "trade_count",
        "flat_by",
        "size_limits",
        "consistency",
    }


def test_state_json_carries_each_slot_and_reads_back() -> None:
    m = preset_monitor("basic", "100000", **EVERYTHING)
    for s in walk()[:6]:
        m.process(s)
    assert m.state is not None
    text = m.state.to_json()
    back = AccountState.from_json(text)
    assert back.to_json() == text


PRESET_BOOKS = [(name, p.rulebook(EVERYTHING if name == "basic" else {})) for name, p in PRESETS.items()]


@settings(max_examples=120, deadline=None)
@given(
    which=st.integers(min_value=0, max_value=len(PRESET_BOOKS) - 1),
    steps=st.lists(
        st.tuples(st.integers(0, 8 * 3600), st.integers(-4000, 4000), st.integers(-3000, 3000)), min_size=1, max_size=12
    ),
    probes=st.lists(st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True), min_size=1, max_size=5),
)
def test_inside_its_equity_band_no_rule_changes_its_verdict(
    which: int, steps: list[tuple[int, int, int]], probes: list[float]
) -> None:
    name, book = PRESET_BOOKS[which]
    initial = PRESETS[name].initial_balance or D(100000)
    monitor = AccountMonitor(AccountProfile("acc-1", book, initial_balance=initial), Store(MEMORY))
    at = datetime(2026, 3, 2, 7, tzinfo=UTC).timestamp()
    for gap, closed, floating in steps:
        at += gap
        balance = initial + closed
        held = (position("p", volume="1", notional="150000"),) if floating else ()
        current = snap(
            datetime.fromtimestamp(at, UTC).isoformat(), balance, balance + floating, margin="2000", positions=held
        )
        ev = monitor.process(current)
        assert ev is not None
    rules, state = monitor.profile.rules, ev.state
    band = equity_band(rules, current, state)
    assert band.holds(current.equity) or band.low == band.high == current.equity or current.equity in band
    low = max(band.low, current.equity - 10000)
    high = min(band.high, current.equity + 10000)
    for share in probes:
        equity = (low + (high - low) * Decimal(share)).quantize(Decimal("0.01"))
        if not band.holds(equity):
            continue
        moved = replace(current, equity=equity)
        for rule in rules:
            assert rule.check(moved, state).severity is rule.check(current, state).severity, (rule.name, equity)


def test_floors_say_the_band_they_hold_in_and_other_rules_what_they_watch() -> None:
    m = preset_monitor("ftmo-2step", "100000")
    ev = m.process(snap("2026-03-02 12:00", "100000", "99000"))
    assert ev is not None
    band = equity_band(m.profile.rules, ev.snapshot, ev.state)
    # Daily floor 95,000 warns at 96,000; max loss 90,000 warns at 92,000: OK strictly above 96,000.
    assert (band.low, band.high) == (D(96000), D("Infinity"))
    assert Watch.TIME in watched(m.profile.rules)


def test_a_rule_that_flattens_triggers_the_enforcer_and_one_that_alerts_does_not() -> None:
    policy = Policy(mode=Mode.LIVE)
    at = "2026-03-03 21:10"  # 15:10 Chicago
    for response, expected in (("flatten", FLAT_BY), ("alert", None)):
        m = preset_monitor("topstep-50k", flat_by={"response": response})
        ev = m.process(snap(at, "50000", positions=(position("1"),)))
        assert ev is not None and ev.result(FLAT_BY).severity is Severity.CRITICAL  # type: ignore[union-attr]
        hit = flatten_trigger(ev, policy)
        assert (hit[0].rule if hit else None) == expected


def test_limits_and_metrics_list_every_rule_generically() -> None:
    m = preset_monitor("basic", "100000", **EVERYTHING)
    ev = None
    for s in walk()[:5]:
        ev = m.process(s)
    assert ev is not None
    html = limits_html(ev)
    for rule in EVERY_RULE:
        assert rule.replace("_", " ") in html, rule
    lines = {line.split(": ", 1)[0][2:]: line for line in html.splitlines()[1:]}
    assert "room left" in lines["daily loss"] and "room left" in lines["weekly loss"]
    assert " left)" in lines["flat by"] and "minutes" not in lines["flat by"]  # a time rule in its own words
    assert "trades today" in lines["trade count"]
    model = ReadModel([m])
    view = model.capture()
    assert {r.rule for r in view.accounts[0].rules} == EVERY_RULE  # the read model: every rule, generically
    page = "".join(page_html(view))
    assert {rule for rule in EVERY_RULE if f'class="rule" data-rule="{rule}"' in page} == EVERY_RULE
    api = json.loads("".join(accounts_json(view)))
    assert {r["rule"] for r in api["accounts"][0]["rules"]} == EVERY_RULE
    collector = StateCollector(model)
    registry = CollectorRegistry()
    registry.register(collector)
    states = {s.labels["rule"] for f in registry.collect() if f.name == "riskmon_rule_state" for s in f.samples}
    rooms = {s.labels["rule"] for f in registry.collect() if f.name == "riskmon_rule_room_left" for s in f.samples}
    assert states == EVERY_RULE
    assert {"daily_loss", "max_loss", "weekly_loss", "monthly_loss", "consistency"} <= rooms


def test_presets_command_shows_every_rule_its_source_and_what_is_unconfirmed() -> None:
    result = CliRunner().invoke(app, ["presets"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", result.output)
    for preset in PRESETS.values():
        assert preset.name in text
        for rule, _ in describe_rules(preset.rulebook()):
            assert str(preset.cite(rule)) in text
        for point in preset.unconfirmed:
            assert point in text
    assert "help.topstep.com/en/articles/9772296" in text  # the TopstepX switch's source


# -- response levels, as the enforcer acts on them ------------------------------------------------


def _topstep(response: dict[str, Any]) -> AccountMonitor:
    return preset_monitor("topstep-50k", flat_by=response)


def test_flatten_until_a_chosen_time_halts_until_then_and_not_until_the_next_day() -> None:
    m = _topstep({"response": "flatten_until", "until": "16:30"})
    held = (position("1", opened_at="2026-03-03 15:00"),)
    ev = m.process(snap("2026-03-03 21:10", "50000", positions=held))  # 15:10 Chicago
    assert ev is not None
    now = ev.snapshot.ts
    decision = decide(ev, Policy(mode=Mode.LIVE), TradingStatus(), [], now)
    (transition,) = decision.transitions
    halted = transition.status
    assert halted.state is TradingState.HALTED and halted.until == ts("2026-03-03 22:30")  # 16:30 Chicago
    assert [i.target for i in decision.intents] == ["1"]
    later = m.process(snap("2026-03-03 22:29:59", "50000"))
    assert later is not None
    assert decide(later, Policy(mode=Mode.LIVE), halted, [], later.snapshot.ts).status.state is TradingState.HALTED
    lifted = m.process(snap("2026-03-03 22:30", "50000"))
    assert lifted is not None
    after = decide(lifted, Policy(mode=Mode.LIVE), halted, [], lifted.snapshot.ts)
    assert after.status.state is TradingState.ACTIVE and "halt lifted at 2026-03-03 22:30 UTC" in after.status.reason


def test_halt_new_risk_closes_only_what_opens_after_the_halt() -> None:
    m = _topstep({"response": "halt_new"})
    old = position("old", opened_at="2026-03-03 15:00")
    ev = m.process(snap("2026-03-03 21:10", "50000", positions=(old,)))
    assert ev is not None
    decision = decide(ev, Policy(mode=Mode.LIVE), TradingStatus(), [], ev.snapshot.ts)
    halted = decision.status
    assert halted.state is TradingState.HALTED and halted.new_only and decision.intents == ()
    new = position("new", opened_at="2026-03-03 21:20")
    ev = m.process(snap("2026-03-03 21:21", "50000", positions=(old, new)))
    assert ev is not None
    assert [i.target for i in decide(ev, Policy(mode=Mode.LIVE), halted, [], ev.snapshot.ts).intents] == ["new"]


def test_the_halts_lift_time_and_kind_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    journal = Journal(store)
    status = TradingStatus(
        TradingState.HALTED, date(2026, 3, 3), "flat by", ts("2026-03-03 21:10"), True, 0, ts("2026-03-03 22:30"), True
    )
    journal.save_status(
        "acc-1", status, Entry(ts("2026-03-03 21:10"), "acc-1", date(2026, 3, 3), "transition", "halted")
    )
    store.close()
    store = Store(tmp_path / "s.db")
    assert Journal(store).status("acc-1") == status
    store.close()
