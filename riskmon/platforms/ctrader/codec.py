"""The cTrader Open API JSON envelope, and tolerant readers for the values inside a payload.

A frame is one JSON object per WebSocket text message::

    {"clientMsgId": "cm_7", "payloadType": 2121, "payload": {"ctidTraderAccountId": 123}}

Servers may write enums as numbers or as names and int64 values as numbers or strings; the readers
below accept both. Anything that does not fit raises ``ProtocolError`` (the session counts and skips it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgspec

from riskmon.errors import ProtocolError

Payload = Mapping[str, Any]


class PT(IntEnum):
    """Payload type numbers (PROTOCOLS.md A6)."""

    ERROR_RES = 50
    HEARTBEAT_EVENT = 51
    APPLICATION_AUTH_REQ = 2100
    APPLICATION_AUTH_RES = 2101
    ACCOUNT_AUTH_REQ = 2102
    ACCOUNT_AUTH_RES = 2103
    NEW_ORDER_REQ = 2106
    CANCEL_ORDER_REQ = 2108
    CLOSE_POSITION_REQ = 2111
    ASSET_LIST_REQ = 2112
    ASSET_LIST_RES = 2113
    SYMBOLS_LIST_REQ = 2114
    SYMBOLS_LIST_RES = 2115
    SYMBOL_BY_ID_REQ = 2116
    SYMBOL_BY_ID_RES = 2117
    SYMBOLS_FOR_CONVERSION_REQ = 2118
    SYMBOLS_FOR_CONVERSION_RES = 2119
    TRADER_REQ = 2121
    TRADER_RES = 2122
    TRADER_UPDATED_EVENT = 2123
    RECONCILE_REQ = 2124
    RECONCILE_RES = 2125
    EXECUTION_EVENT = 2126
    SUBSCRIBE_SPOTS_REQ = 2127
    SUBSCRIBE_SPOTS_RES = 2128
    SPOT_EVENT = 2131
    ORDER_ERROR_EVENT = 2132
    DEAL_LIST_REQ = 2133
    DEAL_LIST_RES = 2134
    MARGIN_CHANGED_EVENT = 2141
    OA_ERROR_RES = 2142
    CASH_FLOW_HISTORY_LIST_REQ = 2143
    ACCOUNTS_TOKEN_INVALIDATED_EVENT = 2147
    CLIENT_DISCONNECT_EVENT = 2148
    GET_ACCOUNT_LIST_REQ = 2149
    GET_ACCOUNT_LIST_RES = 2150
    ACCOUNT_DISCONNECT_EVENT = 2164
    REFRESH_TOKEN_REQ = 2173
    REFRESH_TOKEN_RES = 2174
    DEAL_LIST_BY_POSITION_ID_REQ = 2179
    GET_POSITION_UNREALIZED_PNL_REQ = 2187
    GET_POSITION_UNREALIZED_PNL_RES = 2188


ERROR_TYPES = frozenset({PT.ERROR_RES, PT.OA_ERROR_RES, PT.ORDER_ERROR_EVENT})
HISTORY_TYPES = frozenset({PT.DEAL_LIST_REQ, PT.CASH_FLOW_HISTORY_LIST_REQ, PT.DEAL_LIST_BY_POSITION_ID_REQ})

TRADE_SIDE = {"BUY": 1, "SELL": 2}
EXECUTION_TYPE = {
    "ORDER_ACCEPTED": 2,
    "ORDER_FILLED": 3,
    "ORDER_REPLACED": 4,
    "ORDER_CANCELLED": 5,
    "ORDER_EXPIRED": 6,
    "ORDER_REJECTED": 7,
    "ORDER_CANCEL_REJECTED": 8,
    "SWAP": 9,
    "DEPOSIT_WITHDRAW": 10,
    "ORDER_PARTIAL_FILL": 11,
    "BONUS_DEPOSIT_WITHDRAW": 12,
}
POSITION_STATUS = {"POSITION_STATUS_OPEN": 1, "POSITION_STATUS_CLOSED": 2, "POSITION_STATUS_CREATED": 3}
ORDER_TYPE = {
    "MARKET": 1,
    "LIMIT": 2,
    "STOP": 3,
    "STOP_LOSS_TAKE_PROFIT": 4,
    "MARKET_RANGE": 5,
    "STOP_LIMIT": 6,
}
ORDER_STATUS = {
    "ORDER_STATUS_ACCEPTED": 1,
    "ORDER_STATUS_FILLED": 2,
    "ORDER_STATUS_REJECTED": 3,
    "ORDER_STATUS_EXPIRED": 4,
    "ORDER_STATUS_CANCELLED": 5,
}


@dataclass(frozen=True, slots=True)
class Message:
    payload_type: int
    payload: Payload = field(default_factory=dict)
    client_msg_id: str | None = None


def encode(message: Message) -> str:
    frame: dict[str, Any] = {"payloadType": message.payload_type, "payload": dict(message.payload)}
    if message.client_msg_id is not None:
        frame["clientMsgId"] = message.client_msg_id
    return json.dumps(frame, separators=(",", ":"))


_json = msgspec.json.Decoder().decode  # a C decoder: every spot event passes here


def decode(text: str | bytes) -> Message:
    try:
        frame = _json(text)
    except (msgspec.DecodeError, ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise ProtocolError("frame is not a JSON object")
    payload_type = as_int(frame.get("payloadType"), "payloadType")
    payload = frame.get("payload", {})
    if not isinstance(payload, dict):
        raise ProtocolError("payload is not an object")
    msg_id = frame.get("clientMsgId")
    if msg_id is not None and not isinstance(msg_id, str):
        raise ProtocolError("clientMsgId is not a string")
    return Message(payload_type, payload, msg_id)


def as_int(value: object, name: str) -> int:
    """An integer written as a JSON number or a decimal string (int64 encoding varies)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ProtocolError(f"{name}: expected an integer, got {value!r}")


def req_int(payload: Payload, key: str) -> int:
    return as_int(payload.get(key), key)


def req_volume(payload: Payload, key: str = "volume") -> int:
    """A volume (cents of a unit): never below 0 in the definitions; a negative one is a malformed message."""
    volume = req_int(payload, key)
    if volume < 0:
        raise ProtocolError(f"{key}: a volume cannot be negative, got {volume}")
    return volume


def opt_int(payload: Payload, key: str) -> int | None:
    value = payload.get(key)
    return None if value is None else as_int(value, key)


def int_or(payload: Payload, key: str, default: int) -> int:
    value = payload.get(key)
    return default if value is None else as_int(value, key)


def req_enum(payload: Payload, key: str, names: Mapping[str, int]) -> int:
    value = payload.get(key)
    if isinstance(value, str) and value in names:
        return names[value]
    return as_int(value, key)


def opt_float(payload: Payload, key: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ProtocolError(f"{key}: expected a number, got {value!r}")


def opt_str(payload: Payload, key: str) -> str | None:
    value = payload.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ProtocolError(f"{key}: expected a string, got {value!r}")


def sub(payload: Payload, key: str) -> Payload:
    value = payload.get(key, {})
    if not isinstance(value, dict):
        raise ProtocolError(f"{key}: expected an object")
    return value


def items(payload: Payload, key: str) -> list[Payload]:
    value = payload.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProtocolError(f"{key}: expected a list of objects")
    return value
