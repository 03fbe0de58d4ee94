"""The replay format: JSON Lines, one AccountSnapshot a line (documented in the README).

``riskmon run --record`` writes it and ``riskmon replay`` reads it, so any recorded run replays.
Numbers may be JSON numbers or strings; both are read exactly (no float ever).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import msgspec
from pydantic import BaseModel, ConfigDict

from riskmon.errors import ConfigError, os_reason
from riskmon.models import AccountSnapshot, Order, Position, Side
from riskmon.platforms.base import ActionResult, Outcome, Platform
from riskmon.platforms.plugin import PlatformPlugin

if TYPE_CHECKING:
    from riskmon.config import AccountConfig, AppConfig, Settings

log = logging.getLogger(__name__)


class RecordError(ValueError):
    """A line that is not a valid snapshot record; the message says which field."""


def _decimal(record: dict[str, Any], key: str, required: bool = False) -> Decimal | None:
    value = record.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing required field {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise RecordError(f"{key!r} must be a number or a numeric string, got {type(value).__name__}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise RecordError(f"{key!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise RecordError(f"{key!r} must be finite, got {value!r}")
    return number


def _required(record: dict[str, Any], key: str) -> Decimal:
    value = _decimal(record, key, required=True)
    assert value is not None
    return value


def _timestamp(record: dict[str, Any], key: str, required: bool = False) -> datetime | None:
    value = record.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing required field {key!r}")
        return None
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError:
        raise RecordError(f"{key!r} is not an ISO 8601 timestamp: {value!r}") from None
    if ts.tzinfo is None:
        raise RecordError(f"{key!r} must carry a UTC offset, got {value!r}")
    return ts


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None or value == "":
        raise RecordError(f"missing required field {key!r}")
    return str(value)


def _side(record: dict[str, Any]) -> Side:
    value = str(record.get("side", "")).lower()
    try:
        return Side(value)
    except ValueError:
        raise RecordError(f"'side' must be 'buy' or 'sell', got {record.get('side')!r}") from None


def position_from_record(record: Any) -> Position:
    if not isinstance(record, dict):
        raise RecordError("each position must be an object")
    return Position(
        id=_text(record, "id"),
        symbol=_text(record, "symbol"),
        side=_side(record),
        volume=_required(record, "volume"),
        open_price=_decimal(record, "open_price"),
        price=_decimal(record, "price"),
        notional=_decimal(record, "notional"),
        unrealized_pnl=_decimal(record, "unrealized_pnl") or Decimal(0),
        swap=_decimal(record, "swap") or Decimal(0),
        commission=_decimal(record, "commission") or Decimal(0),
        stop_loss=_decimal(record, "stop_loss"),
        opened_at=_timestamp(record, "opened_at"),
    )


def order_from_record(record: Any) -> Order:
    if not isinstance(record, dict):
        raise RecordError("each order must be an object")
    return Order(
        id=_text(record, "id"),
        symbol=_text(record, "symbol"),
        side=_side(record),
        volume=_required(record, "volume"),
        kind=str(record.get("kind", "limit")),
        price=_decimal(record, "price"),
    )


def snapshot_from_record(record: Any) -> AccountSnapshot:
    if not isinstance(record, dict):
        raise RecordError("a line must be a JSON object")
    positions = record.get("positions") or []
    orders = record.get("orders") or []
    if not isinstance(positions, list) or not isinstance(orders, list):
        raise RecordError("'positions' and 'orders' must be lists")
    ts = _timestamp(record, "ts", required=True)
    assert ts is not None
    return AccountSnapshot(
        account=_text(record, "account"),
        platform=str(record.get("platform", "replay")),
        currency=str(record.get("currency", "USD")),
        balance=_required(record, "balance"),
        equity=_required(record, "equity"),
        margin=_decimal(record, "margin") or Decimal(0),
        positions=tuple(position_from_record(p) for p in positions),
        orders=tuple(order_from_record(o) for o in orders),
        ts=ts,
        received_at=_timestamp(record, "received_at"),
        realized_today=_decimal(record, "realized_today"),
        leverage=_decimal(record, "leverage"),
    )


def decode_line(raw: bytes) -> str:
    """A line's bytes as text; a line that is not UTF-8 is a bad line, not the end of the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})") from None


# Typed decoding straight into the models, in C: the common line costs a fraction of the generic parse below.
_TYPED = msgspec.json.Decoder(AccountSnapshot)


def _typed(line: str | bytes) -> AccountSnapshot | None:
    """The snapshot when the typed decoder reads ``line`` exactly as the generic parse would, else None (the
    generic parse then reads it, and says what is wrong with it): the decoder is laxer on a few points (empty
    names, naive opening times, non-finite figures, a ``keepalive`` key), which send a line there."""
    folded = line.lower()
    if ("nan" in folded or "inf" in folded) if isinstance(folded, str) else (b"nan" in folded or b"inf" in folded):
        return None  # a non-finite figure (or a name with those letters): the generic parse judges
    try:
        snap = _TYPED.decode(line)
    except (msgspec.DecodeError, ValueError, TypeError, RecursionError):
        return None
    if not snap.account or snap.keepalive:
        return None
    for p in snap.positions:
        if not p.id or not p.symbol or (p.opened_at is not None and p.opened_at.tzinfo is None):
            return None
    return snap if all(o.id and o.symbol for o in snap.orders) else None


def parse_line(line: str | bytes) -> AccountSnapshot:
    """One record; anything wrong with it (even nesting deep enough to exhaust the parser) is a RecordError."""
    return _typed(line) or parse_generic(line)


def parse_generic(line: str | bytes) -> AccountSnapshot:
    """``parse_line`` without the typed decoder: what it must agree with, and what names every fault."""
    text = decode_line(line) if isinstance(line, bytes) else line
    try:
        record = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise RecordError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RecordError("not valid JSON (nested too deeply)") from None
    try:
        return snapshot_from_record(record)
    except (RecursionError, OverflowError) as exc:
        raise RecordError(f"not a valid record ({type(exc).__name__})") from None


def _drop_none(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None}


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def snapshot_to_record(snap: AccountSnapshot) -> dict[str, Any]:
    """The replay-format object for a snapshot (the inverse of ``snapshot_from_record``)."""
    return _drop_none(
        {
            "ts": snap.ts.isoformat(),
            "account": snap.account,
            "platform": snap.platform,
            "currency": snap.currency,
            "balance": str(snap.balance),
            "equity": str(snap.equity),
            "margin": str(snap.margin),
            "realized_today": _str(snap.realized_today),
            "leverage": _str(snap.leverage),
            "received_at": snap.received_at.isoformat() if snap.received_at else None,
            "positions": [
                _drop_none(
                    {
                        "id": p.id,
                        "symbol": p.symbol,
                        "side": p.side.value,
                        "volume": str(p.volume),
                        "open_price": _str(p.open_price),
                        "price": _str(p.price),
                        "notional": _str(p.notional),
                        "unrealized_pnl": str(p.unrealized_pnl),
                        "swap": str(p.swap),
                        "commission": str(p.commission),
                        "stop_loss": _str(p.stop_loss),
                        "opened_at": p.opened_at.isoformat() if p.opened_at else None,
                    }
                )
                for p in snap.positions
            ],
            "orders": [
                _drop_none(
                    {
                        "id": o.id,
                        "symbol": o.symbol,
                        "side": o.side.value,
                        "volume": str(o.volume),
                        "kind": o.kind,
                        "price": _str(o.price),
                    }
                )
                for o in snap.orders
            ]
            or None,
        }
    )


def snapshot_to_line(snap: AccountSnapshot) -> str:
    return json.dumps(snapshot_to_record(snap), separators=(",", ":"))


@dataclass(frozen=True)
class BadLine:
    number: int
    reason: str
    text: str = ""


def wrapped_json_hint(bad: list[BadLine]) -> str:
    """When no line was a snapshot, say so if the file looks like pretty-printed (or array-wrapped) JSON."""
    if bad and bad[0].text.strip().startswith(("{", "[")):
        return (
            "; it looks like pretty-printed JSON, and the replay format needs one snapshot per line "
            "(JSON Lines: `jq -c . FILE` rewrites it that way)"
        )
    return ""


def read_records(stream: TextIO | BinaryIO) -> Iterator[AccountSnapshot | BadLine]:
    """Every line in order: a snapshot, or the reason it is not one. Blank lines are skipped.

    A text file is read through its bytes (when it has them), so a line of invalid UTF-8 is one bad line."""
    lines: Iterable[str | bytes] = getattr(stream, "buffer", stream)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield parse_line(line)
        except (RecordError, ValueError) as exc:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            yield BadLine(number, str(exc), text)


class Recorder:
    """Appends every snapshot it observes to a file in the replay format (``riskmon run --record``)."""

    def __init__(self, path: Path, setting: str = "--record") -> None:
        """Appends to ``path``, creating its folder if needed; a directory or an unwritable path is one clear error."""
        if path.is_dir():
            raise ConfigError(setting, f"{path} is a folder; give a file, e.g. {path / 'snapshots.jsonl'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(setting, f"cannot write to {path}: {os_reason(path, exc)}") from None

    def write(self, snap: AccountSnapshot) -> None:
        self._file.write(snapshot_to_line(snap) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class ReplayFeed:
    """A JSONL file as a live source: reads it from the start, then (``follow``) waits for new lines.

    Malformed lines are logged with their line number and skipped; the feed goes on.
    """

    def __init__(self, path: Path, follow: bool = True, poll_interval: float = 0.2) -> None:
        self.path = path
        self.follow = follow
        self.poll_interval = poll_interval
        self.bad_lines = 0

    @property
    def connected(self) -> bool:
        return self.path.exists()

    async def aclose(self) -> None:
        """Nothing to release: the file belongs to the iterator, closed when it ends."""

    async def snapshots(self) -> AsyncIterator[AccountSnapshot]:
        with self.path.open("rb") as stream:
            number, pending = 0, b""
            while True:
                chunk = stream.readline()
                if not chunk:
                    if not self.follow:
                        return
                    await asyncio.sleep(self.poll_interval)
                    continue
                pending += chunk
                if not pending.endswith(b"\n"):
                    continue  # a line still being written
                line, pending = pending, b""
                number += 1
                if not line.strip():
                    continue
                try:
                    yield parse_line(line)
                except (RecordError, ValueError) as exc:
                    self.bad_lines += 1
                    log.warning("%s: line %d: %s (skipped)", self.path, number, exc)


class ReplaySettings(BaseModel):
    """REPLAY_FILE in .env: the .env account's JSONL file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: Path | None = None


class ReplayOptions(BaseModel):
    """``[accounts.replay] file`` (or the account's ``replay_file`` key) in riskmon.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: Path | None = None


class _NoTrading:
    """Recorded data cannot be traded: every action is refused, plainly."""

    async def close_position(self, account: str, position_id: str, volume: Decimal | None = None) -> ActionResult:
        return ActionResult(Outcome.TRADING_DISABLED, "replay data cannot be traded")

    async def cancel_order(self, account: str, order_id: str) -> ActionResult:
        return ActionResult(Outcome.TRADING_DISABLED, "replay data cannot be traded")


def replay_file(settings: Settings, account: AccountConfig) -> Path | None:
    return REPLAY.options(account).file or REPLAY.of(settings).file


def _check(settings: Settings, account: AccountConfig) -> None:
    if replay_file(settings, account) is None:
        raise ConfigError("REPLAY_FILE", f"required for replay account {account.id}")


def _build(config: AppConfig, accounts: list[AccountConfig]) -> list[Platform]:
    """Each file is one feed, for the accounts it holds."""
    by_file: dict[Path, list[str]] = {}
    for account in accounts:
        path = replay_file(config.settings, account)
        if path is not None:
            by_file.setdefault(path, []).append(account.id)
    return [
        Platform(f"replay:{path.name}", ReplayFeed(path), _NoTrading(), tuple(ids)) for path, ids in by_file.items()
    ]


REPLAY: PlatformPlugin[ReplaySettings, ReplayOptions] = PlatformPlugin(
    name="replay",
    env_prefix="REPLAY_",
    settings=ReplaySettings,
    build=_build,
    account_table=ReplayOptions,
    check=_check,
    account_settings=("file",),
    account_keys={"replay_file": "file"},
)
