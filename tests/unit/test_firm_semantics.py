"""What the firms publish, preset by preset: equity exactly on a floor (a breach or not, in the firm's words)
and one cent either side; anchors never lower than the evidence after an unwatched reset; TopstepX."""

from __future__ import annotations

from decimal import Decimal

import pytest

from riskmon.models import Severity
from riskmon.monitor import AccountMonitor
from riskmon.rules.daily_loss import DAILY_LOSS
from riskmon.rules.max_loss import MAX_LOSS
from riskmon.rules.presets import PRESETS
from riskmon.state import AnchorSource
from tests.builders import D, preset_monitor, snap

CENT = Decimal("0.01")

# The firm's wording, per floor: True when equity exactly on it is a breach.
EQUAL_BREACHES = {
    "basic": {DAILY_LOSS: False},
    "ftmo-2step": {DAILY_LOSS: False, MAX_LOSS: False},  # "must not fall below"
    "ftmo-2step-funded": {DAILY_LOSS: False, MAX_LOSS: False},
    "ftmo-1step": {DAILY_LOSS: False, MAX_LOSS: False},
    "the5ers-highstakes": {DAILY_LOSS: True, MAX_LOSS: True},  # "Reaching any of these limits"
    "fundednext-stellar-2step": {DAILY_LOSS: False, MAX_LOSS: False},  # "exceeding"
    "e8-one": {DAILY_LOSS: False, MAX_LOSS: False},
    "topstep-50k": {DAILY_LOSS: True, MAX_LOSS: False},  # DLL "hit or exceed"; MLL "falls below"
    "topstep-50k-topstepx": {MAX_LOSS: False},  # no Daily Loss Limit on TopstepX
    "topstep-50k-express": {DAILY_LOSS: True, MAX_LOSS: False},
    "topstep-100k": {DAILY_LOSS: True, MAX_LOSS: False},
    "topstep-150k": {DAILY_LOSS: True, MAX_LOSS: False},
    "diamondhands-2step": {DAILY_LOSS: False, MAX_LOSS: False},  # "cannot drop more than", "cannot fall more than"
}


def test_every_preset_states_its_equality() -> None:
    assert set(EQUAL_BREACHES) == set(PRESETS)


def _monitor(preset: str) -> AccountMonitor:
    initial = None if PRESETS[preset].initial_balance is not None else "100000"
    return preset_monitor(preset, initial)


CASES = [(preset, rule) for preset, floors in EQUAL_BREACHES.items() for rule in floors]


@pytest.mark.parametrize(("preset", "rule"), CASES)
def test_one_cent_either_side_of_each_floor(preset: str, rule: str) -> None:
    monitor = _monitor(preset)
    balance = monitor.profile.initial_balance or D(100000)
    first = monitor.process(snap("2026-03-03 12:00", balance))
    assert first is not None
    result = first.result(rule)
    assert result is not None and result.floor is not None
    floor = result.floor
    verdicts = []
    for minute, equity in enumerate((floor + CENT, floor, floor - CENT), start=1):
        ev = monitor.process(snap(f"2026-03-03 12:{minute:02d}", balance, equity))
        assert ev is not None
        found = ev.result(rule)
        assert found is not None and found.floor == floor  # the floor did not move
        verdicts.append(found.severity is Severity.CRITICAL)
    equal = EQUAL_BREACHES[preset][rule]
    assert verdicts == [False, equal, True]


def test_topstepx_has_no_daily_loss_limit_and_says_where_that_is_written() -> None:
    preset = PRESETS["topstep-50k-topstepx"]
    assert not preset.rulebook().daily_loss.enabled
    assert "topstepx" in preset.cite(DAILY_LOSS).url.lower()
    ev = preset_monitor("topstep-50k-topstepx").process(snap("2026-03-03 15:00", "50000", "48000.01"))
    assert ev is not None and ev.result(DAILY_LOSS) is None
    assert ev.result(MAX_LOSS) is not None


def test_an_estimated_anchor_says_so_until_the_platform_gives_the_exact_figure() -> None:
    m = preset_monitor("ftmo-2step", "100000")
    m.process(snap("2026-03-02 12:00", "101000"))
    # Not watching at Prague midnight; the first balance after the gap is lower than the last one before it.
    ev = m.process(snap("2026-03-03 09:00", "99000", "98000"))
    assert ev is not None and ev.state.anchor_source is AnchorSource.ESTIMATED
    daily = ev.result(DAILY_LOSS)
    assert daily is not None and daily.floor == D(96000)  # 101,000 − 5,000, not 99,000 − 5,000
    assert "[day anchor estimated]" in daily.message
    exact = m.process(snap("2026-03-03 09:01", "99000", "98000", realized_today=D(-500)))
    assert exact is not None and exact.state.anchor_source is AnchorSource.REBUILT
    daily = exact.result(DAILY_LOSS)
    assert daily is not None and daily.floor == D(94500)  # 99,500 at the reset − 5,000
    assert "[day anchor rebuilt]" in daily.message


def test_an_end_of_day_high_is_never_taken_below_the_evidence_either() -> None:
    m = preset_monitor("topstep-50k")
    m.process(snap("2026-03-03 20:00", "51500"))  # seen before the 5 PM Chicago reset, then a gap
    ev = m.process(snap("2026-03-04 15:00", "51000"))  # the next day; the balance fell meanwhile
    assert ev is not None
    assert ev.state.eod_balance_high == D(51500)
    trailing = ev.result(MAX_LOSS)
    assert trailing is not None and trailing.floor == D(49500)
