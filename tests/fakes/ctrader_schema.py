"""The judge of every cTrader Open API JSON frame in the tests: Spotware's own message definitions.

The ``ctrader-open-api`` package (installed by the Makefile, test only) ships the message classes that
protoc generated from Spotware's .proto files. Each frame's payload is parsed into the class its
payloadType names with ``google.protobuf.json_format.ParseDict`` (unknown fields refused), and every
required field must be there. The package's own ``__init__`` imports Twisted, which riskmon does not
need, so only its ``messages`` modules are loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

ENVELOPE = frozenset({"payloadType", "payload", "clientMsgId"})
MODULES = ("OpenApiCommonMessages_pb2", "OpenApiMessages_pb2")
# Where Spotware's current .proto files differ from the 0.9.2 package (which predates them), the
# current definition is the judge; these fields are checked here by hand and then set aside:
UPSTREAM: dict[tuple[str, str], str] = {
    # OpenApiMessages.proto, ProtoOAErrorRes: ``optional uint64 retryAfter = 6;`` (not in the package)
    ("ProtoOAErrorRes", "retryAfter"): "uint64",
    # OpenApiModelMessages.proto, ProtoOAPositionUnrealizedPnL: ``required int64 netUnrealizedPnL = 3;``
    # (int32 in the package: an 8-digit account's P&L overflows it)
    ("ProtoOAPositionUnrealizedPnL", "netUnrealizedPnL"): "int64",
}


def _message_classes() -> dict[int, type[Message]]:
    """payloadType number → message class, from each message's ``payloadType`` field default."""
    spec = importlib.util.find_spec("ctrader_open_api")
    if spec is None or spec.submodule_search_locations is None:
        raise RuntimeError("ctrader-open-api is not installed: run `make test` (it installs the test tools)")
    if "ctrader_open_api" not in sys.modules:
        package = types.ModuleType("ctrader_open_api")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["ctrader_open_api"] = package
    classes: dict[int, type[Message]] = {}
    for name in MODULES:
        module = importlib.import_module(f"ctrader_open_api.messages.{name}")
        for message_name in module.DESCRIPTOR.message_types_by_name:
            cls = getattr(module, message_name)
            field = cls.DESCRIPTOR.fields_by_name.get("payloadType")
            if field is not None:
                classes[int(field.default_value)] = cls
    return classes


CLASSES = _message_classes()


def check_frame(text: str | bytes) -> list[str]:
    """What is wrong with one frame, by the official definitions; empty when nothing is."""
    try:
        frame = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(frame, dict) or not frame.keys() <= ENVELOPE:
        return [f"not a ProtoMessage envelope: {str(frame)[:200]}"]
    payload_type, payload = frame.get("payloadType"), frame.get("payload", {})
    cls = CLASSES.get(payload_type) if isinstance(payload_type, int) else None
    if cls is None:
        return [f"payloadType {payload_type!r} is not an Open API message"]
    if not isinstance(payload, dict) or not isinstance(frame.get("clientMsgId", ""), str):
        return [f"{cls.__name__}: payload must be an object and clientMsgId a string"]
    return [f"{cls.__name__}: {problem}" for problem in check_payload(cls, payload)]


def check_payload(cls: type[Message], payload: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    payload = _set_aside(cls.DESCRIPTOR, payload, problems)
    try:
        message = json_format.ParseDict(payload, cls(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        return [*problems, str(exc)]
    missing = message.FindInitializationErrors()
    return problems + ([f"required fields missing: {', '.join(missing)}"] if missing else [])


def _set_aside(descriptor: Any, payload: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The payload with the UPSTREAM fields checked and replaced (0 where the package has the field,
    dropped where it does not), at any depth."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        field = descriptor.fields_by_name.get(key)
        kind = UPSTREAM.get((descriptor.name, key))
        if kind is not None:
            if not _integer(value, unsigned=kind.startswith("u")):
                problems.append(f"{descriptor.name}.{key} must be a {kind}, got {value!r}")
            if field is not None:
                out[key] = 0
        elif field is not None and field.message_type is not None and isinstance(value, dict):
            out[key] = _set_aside(field.message_type, value, problems)
        elif field is not None and field.message_type is not None and isinstance(value, list):
            out[key] = [_set_aside(field.message_type, v, problems) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def _integer(value: object, *, unsigned: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    try:
        number = int(value)
    except ValueError:
        return False
    return 0 <= number < 2**64 if unsigned else -(2**63) <= number < 2**63
