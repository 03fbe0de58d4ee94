"""cTrader against a hostile server (issue 15 finding 2): one bad frame or one refusal never ends monitoring."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskmon.errors import AuthenticationError, ProtocolError
from riskmon.platforms.ctrader.codec import PT, decode
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, Running, next_snapshot


async def test_a_deeply_nested_frame_is_one_malformed_frame(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.09000")
    run = running()
    await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    await server.send_raw("[" * 100_000)  # RecursionError in the JSON parser, not a ValueError
    await server.send_raw('{"payloadType": 2131, "payload": {"ctidTraderAccountId": ' + "[" * 50_000 + "}}")
    await server.set_price("EURUSD", bid="1.20000", ask="1.20010")
    expected = server.equity(CTID)
    await next_snapshot(run.snaps, lambda s: s.equity == expected)  # still streaming on the same connection
    assert run.session.malformed_frames == 2 and run.session.reconnects == 0


async def test_an_auth_refusal_on_reconnect_is_retried_by_a_new_session_run(
    server: FakeCTraderServer, running: Callable[..., Running]
) -> None:
    run = running()
    await next_snapshot(run.snaps)
    server.fail_next(PT.APPLICATION_AUTH_REQ, "CH_CLIENT_AUTH_FAILURE")
    await server.drop_connections()
    with pytest.raises(AuthenticationError):
        await next_snapshot(run.snaps, within=5)
    again = run.feed.snapshots()  # what the service's supervisor does after its back-off
    try:
        snap = await next_snapshot(again)
    finally:
        await again.aclose()
    assert snap.balance == Decimal("10000.00") and run.session.connected


@pytest.mark.parametrize("where", ["position", "order"])
async def test_a_negative_volume_is_a_malformed_frame_not_a_closed_position(
    server: FakeCTraderServer, running: Callable[..., Running], where: str
) -> None:
    """Finding 14: an ExecutionEvent whose position had a negative volume removed it until the next reconcile
    (the loss it carried vanished with it). A volume is never below 0 (ProtoOATradeData): the frame is refused."""
    pid = await server.open_position(CTID, "EURUSD", "BUY", lots="1", price="1.12000")  # 2,000 lost
    run = running(reconcile_interval=3600)
    loaded = await next_snapshot(run.snaps, lambda s: len(s.positions) == 1)
    position = server._position(server.positions[pid])
    position["tradeData"] = {**position["tradeData"], "volume": -1}
    payload: dict[str, object] = {"ctidTraderAccountId": CTID, "executionType": "ORDER_FILLED", "position": position}
    if where == "order":
        payload = {"ctidTraderAccountId": CTID, "executionType": "ORDER_ACCEPTED", "order": {
            "orderId": 1, "tradeData": position["tradeData"], "orderType": "LIMIT", "limitPrice": 1.0,
        }}  # fmt: skip
    await server.send_raw(json.dumps({"payloadType": PT.EXECUTION_EVENT, "payload": payload}))
    await server.set_price("EURUSD", bid="1.09990", ask="1.10000")
    after = await next_snapshot(run.snaps, lambda s: s.equity != loaded.equity)
    assert len(after.positions) == 1 and after.equity == server.equity(CTID) and not after.orders
    assert run.session.malformed_frames == 1


# ---- fuzzing the frame parser: any text is a message or a ProtocolError ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"payloadType": st.integers() | st.sampled_from([2131, 2126, 2123, 2120, 51, 50]), "payload": json_values},
        optional={"clientMsgId": json_values},
    ).map(json.dumps),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(frames)
def test_fuzz_any_frame_decodes_or_is_a_protocol_error(frame: str) -> None:
    try:
        message = decode(frame)
    except ProtocolError:
        return
    assert isinstance(message.payload_type, int) and isinstance(message.payload, dict)
