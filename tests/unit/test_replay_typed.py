"""The typed decoder of replay lines reads every line exactly as the generic parse does, or leaves it to it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from riskmon.platforms.replay import RecordError, _typed, parse_generic, parse_line

GOOD_NUMBER = st.one_of(
    st.decimals(min_value=-(10**16), max_value=10**16, places=5).map(str),
    st.integers(-(10**16), 10**16),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
# Mostly good figures (so that whole lines are often good), now and then a hostile one.
NUMBER = st.one_of(
    GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER, GOOD_NUMBER,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "", "x", True, None]),
)  # fmt: skip
TIME = st.sampled_from(
    ["2026-03-02T10:00:00Z"] * 6 + ["2026-03-02T10:00:00+02:00", "2026-03-02 10:00:00+00:00", "2026-03-02T10:00:00",
     "2026-03-02T10:00:00.123456-05:00", "1999-01-01T00:00:00Z", "soon", 12]
)  # fmt: skip
NAME = st.sampled_from(["acc-1", "EURUSD", "1", "acc-1", "EURUSD", "", 7])
SIDE = st.sampled_from(["buy", "sell", "buy", "sell", "BUY", "hold", None])


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(None), value)


POSITION = st.fixed_dictionaries(
    {"id": NAME, "symbol": NAME, "side": SIDE, "volume": NUMBER},
    optional={
        "price": NUMBER,
        "open_price": NUMBER,
        "notional": NUMBER,
        "unrealized_pnl": NUMBER,
        "swap": NUMBER,
        "commission": NUMBER,
        "stop_loss": NUMBER,
        "opened_at": maybe(TIME),
    },
)
ORDER = st.fixed_dictionaries({"id": NAME, "symbol": NAME, "side": SIDE, "volume": NUMBER}, optional={"price": NUMBER})
RECORD = st.fixed_dictionaries(
    {"ts": TIME, "account": NAME, "balance": NUMBER, "equity": NUMBER},
    optional={
        "margin": NUMBER,
        "positions": maybe(st.lists(POSITION, max_size=2)),
        "orders": st.lists(ORDER, max_size=2),
        "received_at": maybe(TIME),
        "realized_today": NUMBER,
        "leverage": NUMBER,
        "platform": NAME,
        "keepalive": st.booleans(),
        "other": st.integers(),
    },
)


@settings(max_examples=400, deadline=None)
@given(record=RECORD)
def test_typed_decoding_agrees_with_the_generic_parse(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    typed = _typed(line)
    try:
        generic = parse_generic(line)
    except (RecordError, ValueError):
        assert typed is None  # a faulty line is always left to the generic parse, which names the fault
        return
    if typed is not None:
        assert typed == generic
    event("typed" if typed is not None else "generic")
    assert parse_line(line.encode()) == generic


def test_a_plain_line_takes_the_typed_decoder() -> None:
    line = '{"ts":"2026-03-02T10:00:00Z","account":"a","balance":"100000","equity":99000.5,"positions":[{"id":"1",'
    line += '"symbol":"EURUSD","side":"buy","volume":"1","price":1.1}]}'
    typed = _typed(line)
    assert typed is not None and typed == parse_generic(line)
