"""One Open API connection serving many accounts: auth, request/response, heartbeats, reconnects.

Lifecycle of a connection::

    connect → ApplicationAuth (2100) → GetAccountListByAccessToken (2149) → AccountAuth (2102) × N, in
            ``rank_by`` order → each account's ready hooks as soon as it is authorised (the feed reconciles
            and subscribes) → read until the link dies
            → backoff with jitter → connect again …

Responses are matched to requests by ``clientMsgId``; events (spots, executions, trader/margin updates)
go to listeners, called synchronously from the reader. ErrorRes (50/2142) and OrderErrorEvent (2132)
that answer a request raise ``CTraderApiError``. An expired/invalid access token is refreshed in-band
(2173) and persisted; tokens are never logged. A malformed frame is counted and skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from riskmon.backoff import Backoff
from riskmon.errors import AuthenticationError, PlatformError, PlatformUnavailable, ProtocolError

from .codec import ERROR_TYPES, HISTORY_TYPES, PT, Message, Payload, as_int, decode, encode
from .limits import NeedLimiter
from .parsing import AccountRef, ctrader_account_list, ctrader_error
from .tasks import BackgroundTasks
from .tokens import Tokens, TokenStore
from .transport import DEMO_HOST, LIVE_HOST, Connection, Connector, websocket_connect

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({"OA_AUTH_TOKEN_EXPIRED", "CH_ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_EXPIRED"})
# Refusals no retry can fix; any other error during authorisation is retried through a reconnect.
# ACCOUNT_NOT_AUTHORIZED is not one of them: it says the account's session is not (or no longer)
# authorised, as after a token refresh invalidated it, which re-authorising fixes.
FATAL_AUTH_ERRORS = frozenset({"CH_CLIENT_AUTH_FAILURE", "CH_CTID_TRADER_ACCOUNT_NOT_FOUND", "RET_NO_SUCH_LOGIN"})
EVENT_TYPES = frozenset(
    {
        PT.SPOT_EVENT,
        PT.EXECUTION_EVENT,
        PT.TRADER_UPDATED_EVENT,
        PT.MARGIN_CHANGED_EVENT,
        PT.ORDER_ERROR_EVENT,
        PT.ACCOUNTS_TOKEN_INVALIDATED_EVENT,
        PT.ACCOUNT_DISCONNECT_EVENT,
    }
)

# Orders, closes and cancels are never held behind loads: the enforcer acts now, whoever the account is.
TRADING_TYPES = frozenset({PT.NEW_ORDER_REQ, PT.CLOSE_POSITION_REQ, PT.CANCEL_ORDER_REQ})

Listener = Callable[[Message], None]
ReadyHook = Callable[[str], Coroutine[Any, Any, None]]


class CTraderApiError(PlatformError):
    """The server refused a request; ``code`` is the protocol's error-code name, ``retry_after`` the
    seconds it asked us to wait (ProtoOAErrorRes.retryAfter), when it said."""

    def __init__(self, code: str, description: str = "", retry_after: float | None = None) -> None:
        self.code = code
        self.description = description
        self.retry_after = retry_after
        super().__init__(f"cTrader error {code}: {description}" if description else f"cTrader error {code}")


RECONNECT_BACKOFF = Backoff(1.0, 60.0, jitter=0.2)
# The longest slice of a burst of buffered frames the reader handles before it lets other tasks run (seconds).
DRAIN_BUDGET = 0.005
# Account authorisations waiting at the rate limit at once: a thousand queued together would crowd it (each
# woken at every turn) for the 20 s they take at 50 requests a second, while loads of urgent accounts wait.
AUTHORISING = 8


@dataclass(frozen=True, slots=True)
class Timings:
    request_timeout: float = 10.0
    heartbeat_interval: float = 20.0  # send a heartbeat after this long without sending
    silence_timeout: float = 45.0  # nothing received for this long → the link is dead
    backoff: Backoff = RECONNECT_BACKOFF


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Message]
    until: Callable[[Message], bool] | None
    related: Callable[[Message], bool] | None = None

    def offer(self, msg: Message) -> None:
        if self.future.done():
            return
        if msg.payload_type in ERROR_TYPES:
            self.future.set_exception(CTraderApiError(*ctrader_error(msg.payload)))
        elif self.until is None or self.until(msg):
            self.future.set_result(msg)

    def offer_related(self, msg: Message) -> None:
        """A message without this request's clientMsgId that ``related`` recognises as its answer."""
        if not self.future.done() and self.related is not None and self.related(msg):
            self.future.set_result(msg)


class CTraderSession:
    """The shared connection. ``accounts`` are ids as configured: ctidTraderAccountId or traderLogin."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        tokens: Tokens,
        accounts: Sequence[str],
        url: str,
        token_store: TokenStore | None = None,
        connect: Connector = websocket_connect,
        timings: Timings | None = None,
        rate_limit: float = 50,
        history_rate_limit: float = 5,
        rng: random.Random | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._tokens = tokens
        self._token_store = token_store
        self.accounts = tuple(accounts)
        self._url = url
        self._connect = connect
        self.timings = timings or Timings()
        self._limiter = NeedLimiter(rate_limit)
        self._history_limiter = NeedLimiter(history_rate_limit)
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._listeners: list[Listener] = []
        self._ready_hooks: list[ReadyHook] = []
        self._fatal_hooks: list[Callable[[Exception], None]] = []
        self._tasks = BackgroundTasks("session task")
        self._conn: Connection | None = None
        self._connected = False
        self._ready = asyncio.Event()
        self._fatal: Exception | None = None
        self._runner: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        self._last_sent = time.monotonic()
        self.last_received = time.monotonic()  # when the server last sent anything (heartbeats included)
        self._silent: PlatformUnavailable | None = None  # set when the heartbeat loop closed a silent link
        self._opened = time.monotonic()  # when the current connection opened
        self._attempt = 0
        self._ctid: dict[str, int] = {}
        self._account_of: dict[int, str] = {}
        self.account_refs: list[AccountRef] = []
        self.malformed_frames = 0
        self.reconnects = 0
        self._rank: Callable[[str], float] = lambda account: 0.0

    # ---- public surface -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def ctid(self, account: str) -> int:
        try:
            return self._ctid[account]
        except KeyError:
            raise PlatformUnavailable(f"account {account} is not authorised on the cTrader session") from None

    def account_of(self, ctid: int) -> str | None:
        return self._account_of.get(ctid)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def add_ready_hook(self, hook: ReadyHook) -> None:
        """``hook(account)`` runs after every (re)authorisation of that account."""
        self._ready_hooks.append(hook)

    def add_fatal_hook(self, hook: Callable[[Exception], None]) -> None:
        self._fatal_hooks.append(hook)

    async def start(self) -> None:
        """Connect and authorise (retrying connection failures); raise if credentials are refused.

        A session that has stopped (refused credentials, a crash) is rebuilt by the next start: a supervisor
        retrying never meets the old failure again without a new attempt to connect."""
        if self._runner is not None and self._runner.done():
            self._runner, self._fatal = None, None
            self._ready.clear()
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="ctrader-session")
            self._runner.add_done_callback(self._runner_done)
        await self._ready.wait()
        if self._fatal is not None:
            raise self._fatal

    async def close(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        await self._tasks.cancel()

    async def request(
        self,
        payload_type: int,
        payload: Payload,
        *,
        until: Callable[[Message], bool] | None = None,
        related: Callable[[Message], bool] | None = None,
        within: float | None = None,
    ) -> Message:
        """Send one request and wait for its answer: the first message with our clientMsgId for which
        ``until`` holds, or a message without it (an event) for which ``related`` holds. Raises
        CTraderApiError, TimeoutError or PlatformUnavailable."""
        if not self._connected:
            raise PlatformUnavailable("not connected to cTrader")
        return await self._request(payload_type, payload, until=until, related=related, within=within)

    # ---- connection lifecycle -------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._serve(await self._connect(self._url))
            except AuthenticationError as exc:
                self._fail(exc)
                return
            except (PlatformUnavailable, ProtocolError, CTraderApiError, TimeoutError, OSError) as exc:
                delay = self.timings.backoff.delay(self._attempt, self._rng)
                self._attempt += 1
                self.reconnects += 1
                why = exc or type(exc).__name__
                log.warning(
                    "cTrader connection lost (%s); reconnecting in %.2f s",
                    why,
                    delay,
                    extra={"cause": f"cTrader connection lost ({why})"},
                )
                await asyncio.sleep(delay)

    async def _serve(self, conn: Connection) -> None:
        self._conn = conn
        self._last_sent = self._opened = time.monotonic()
        self._silent = None
        reader = asyncio.create_task(self._read_loop(conn))
        reader.add_done_callback(self._reader_done)  # waiting requests fail at once, not at their timeout
        heart = asyncio.create_task(self._heartbeat_loop(conn))
        try:
            await self._authenticate()
            self._attempt = 0
            self._ready.set()
            await reader
        finally:
            self._connected = False
            self._conn = None
            for task in (reader, heart):
                task.cancel()
            await asyncio.gather(reader, heart, return_exceptions=True)
            await conn.close()

    def _reader_done(self, reader: asyncio.Task[None]) -> None:
        error = None if reader.cancelled() else reader.exception()
        reason = error if isinstance(error, PlatformUnavailable) else PlatformUnavailable("cTrader connection closed")
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(reason)

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._fatal is None:
            self._fail(PlatformUnavailable(f"cTrader session failed: {task.exception()!r}"))

    def _fail(self, exc: Exception) -> None:
        log.error("cTrader session stopped: %s", exc)
        self._fatal = exc
        self._ready.set()
        for hook in self._fatal_hooks:
            hook(exc)

    async def _read_loop(self, conn: Connection) -> None:
        """Read and handle frames. No timeout per frame: the heartbeat loop watches the time of the last one
        (``_silent``). A burst of buffered frames is handled in slices of ``DRAIN_BUDGET`` seconds, yielding
        between them, so the evaluation of what it brought keeps pace with the reading."""
        loop = asyncio.get_running_loop()
        turn = loop.time()
        while True:
            try:
                frame = await conn.recv()
            except PlatformUnavailable:
                raise self._silent or PlatformUnavailable("cTrader connection closed") from None
            now = loop.time()
            self.last_received = time.monotonic()
            if now - turn > DRAIN_BUDGET:
                await asyncio.sleep(0)
                turn = loop.time()
            try:
                msg = decode(frame)
            except Exception as exc:  # any failure to parse one frame (even RecursionError) is that frame's
                self._count_malformed(exc)
                continue
            if msg.payload_type == PT.HEARTBEAT_EVENT:
                await self._send(conn, Message(PT.HEARTBEAT_EVENT))
            elif msg.payload_type == PT.CLIENT_DISCONNECT_EVENT:
                reason = msg.payload.get("reason", "")
                raise PlatformUnavailable(f"cTrader ended the application session: {reason}")
            else:
                self._dispatch(msg)

    def _count_malformed(self, exc: Exception) -> None:
        self.malformed_frames += 1
        log.warning("skipped malformed cTrader frame #%d: %s: %s", self.malformed_frames, type(exc).__name__, exc)

    def _dispatch(self, msg: Message) -> None:
        try:
            pending = None if msg.client_msg_id is None else self._pending.get(msg.client_msg_id)
            if pending is not None:
                pending.offer(msg)
            else:
                for waiting in list(self._pending.values()):
                    waiting.offer_related(msg)
                if msg.payload_type in ERROR_TYPES:
                    log.warning("cTrader error with no request waiting: %s %s", *ctrader_error(msg.payload)[:2])
            if msg.payload_type not in EVENT_TYPES:
                return
            if msg.payload_type == PT.ACCOUNTS_TOKEN_INVALIDATED_EVENT:
                ids = msg.payload.get("ctidTraderAccountIds", [])
                self._reauthorise([as_int(i, "ctidTraderAccountIds") for i in ids], "token invalidated")
            elif msg.payload_type == PT.ACCOUNT_DISCONNECT_EVENT:
                self._reauthorise([as_int(msg.payload.get("ctidTraderAccountId"), "ctid")], "account disconnected")
            for listener in self._listeners:
                listener(msg)
        except Exception as exc:  # a frame whose values break its handling is that frame's fault alone
            self._count_malformed(exc)

    async def _heartbeat_loop(self, conn: Connection) -> None:
        """Send a heartbeat after ``heartbeat_interval`` without sending; close the link when nothing came for
        ``silence_timeout`` (the reader then ends with that reason)."""
        interval, silence = self.timings.heartbeat_interval, self.timings.silence_timeout
        while True:
            now = time.monotonic()
            quiet = now - max(self.last_received, self._opened)
            if quiet >= silence:
                self._silent = PlatformUnavailable(f"no message from cTrader for {silence:g} s")
                await conn.close()
                return
            idle = now - self._last_sent
            if idle >= interval:
                await self._send(conn, Message(PT.HEARTBEAT_EVENT))
                idle = 0.0
            await asyncio.sleep(min(interval - idle, silence - quiet))

    async def _send(self, conn: Connection, msg: Message) -> None:
        await conn.send(encode(msg))
        self._last_sent = time.monotonic()

    async def _request(
        self,
        payload_type: int,
        payload: Payload,
        *,
        until: Callable[[Message], bool] | None = None,
        related: Callable[[Message], bool] | None = None,
        within: float | None = None,
    ) -> Message:
        need = self._need(payload_type, payload)
        if payload_type in HISTORY_TYPES:
            await self._history_limiter.acquire(need)
        await self._limiter.acquire(need)
        conn = self._conn
        if conn is None:
            raise PlatformUnavailable("not connected to cTrader")
        msg_id = f"cm_{next(self._ids)}"
        pending = _Pending(asyncio.get_running_loop().create_future(), until, related)
        self._pending[msg_id] = pending
        try:
            await self._send(conn, Message(payload_type, payload, msg_id))
            async with asyncio.timeout(within or self.timings.request_timeout):
                return await pending.future
        finally:
            del self._pending[msg_id]

    def _need(self, payload_type: int, payload: Payload) -> float:
        """A request's place at the rate limits: trading and the connection's own requests first, then by
        the need of the account it concerns (``rank_by``)."""
        ctid = payload.get("ctidTraderAccountId")
        account = self._account_of.get(ctid) if isinstance(ctid, int) and payload_type not in TRADING_TYPES else None
        return float("-inf") if account is None else self._rank(account)

    # ---- authorisation --------------------------------------------------------------------------
    async def _authenticate(self) -> None:
        secret = self._client_secret.get_secret_value()
        try:
            await self._request(PT.APPLICATION_AUTH_REQ, {"clientId": self._client_id, "clientSecret": secret})
        except CTraderApiError as exc:
            if exc.code in FATAL_AUTH_ERRORS:
                raise AuthenticationError(f"cTrader refused the application credentials: {exc.code}") from None
            raise
        res = await self._with_token(lambda token: self._request(PT.GET_ACCOUNT_LIST_REQ, {"accessToken": token}))
        self.account_refs = ctrader_account_list(res.payload)
        self._resolve_accounts()
        self._connected = True  # requests may flow: each account is ready as soon as it is authorised
        gate = asyncio.Semaphore(AUTHORISING)  # taken first come, first served: in rank order
        ranked = sorted(self.accounts, key=self._rank)
        await asyncio.gather(*(self._authorise_account(account, gate) for account in ranked))

    def rank_by(self, key: Callable[[str], float]) -> None:
        """Authorise accounts, and serve their requests at the rate limits, in ascending ``key`` order
        (configuration order, first come first served, by default)."""
        self._rank = key

    async def _authorise_account(self, account: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            await self._authorise(self._ctid[account])
        self._account_ready(account)

    def _resolve_accounts(self) -> None:
        by_ctid = {ref.ctid: ref for ref in self.account_refs}
        by_login = {ref.trader_login: ref for ref in self.account_refs if ref.trader_login is not None}
        for account in self.accounts:
            number = int(account) if account.strip().isdigit() else -1
            ref = by_ctid.get(number) or by_login.get(number)
            if ref is None:
                raise AuthenticationError(f"cTrader account {account} is not visible to this access token")
            right_host = LIVE_HOST if ref.is_live else DEMO_HOST
            if (LIVE_HOST in self._url or DEMO_HOST in self._url) and right_host not in self._url:
                kind = "live" if ref.is_live else "demo"
                raise AuthenticationError(f"cTrader account {account} is a {kind} account: connect to {right_host}")
            self._ctid[account] = ref.ctid
            self._account_of[ref.ctid] = account

    async def _authorise(self, ctid: int) -> None:
        try:
            await self._with_token(
                lambda token: self._request(PT.ACCOUNT_AUTH_REQ, {"ctidTraderAccountId": ctid, "accessToken": token})
            )
        except CTraderApiError as exc:
            if exc.code in FATAL_AUTH_ERRORS:
                raise AuthenticationError(f"cTrader refused account {ctid}: {exc.code}") from None
            if exc.code != "ALREADY_LOGGED_IN":
                raise

    async def _with_token(self, call: Callable[[str], Awaitable[Message]]) -> Message:
        tokens = self._tokens
        try:
            return await call(tokens.access.get_secret_value())
        except CTraderApiError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
            log.info("cTrader access token rejected (%s); refreshing it", exc.code)
        await self._refresh(tokens)
        try:
            return await call(self._tokens.access.get_secret_value())
        except CTraderApiError as exc:
            if exc.code in TOKEN_ERRORS:
                raise AuthenticationError(f"cTrader rejects the refreshed access token: {exc.code}") from None
            raise

    async def _refresh(self, stale: Tokens) -> None:
        async with self._refresh_lock:
            if self._tokens is not stale:  # another caller refreshed meanwhile
                return
            try:
                res = await self._request(PT.REFRESH_TOKEN_REQ, {"refreshToken": stale.refresh.get_secret_value()})
            except CTraderApiError as exc:
                raise AuthenticationError(f"cTrader refused the refresh token: {exc.code}") from None
            access, refresh = res.payload.get("accessToken"), res.payload.get("refreshToken")
            if not isinstance(access, str) or not isinstance(refresh, str):
                raise ProtocolError("RefreshTokenRes without accessToken/refreshToken")
            self._tokens = Tokens(SecretStr(access), SecretStr(refresh))
            if self._token_store is not None:
                self._token_store.save(self._tokens)
            log.info("cTrader access token refreshed%s", " and saved" if self._token_store else "")

    def _reauthorise(self, ctids: Sequence[int], reason: str) -> None:
        accounts = [a for a in (self._account_of.get(c) for c in ctids) if a is not None]
        if accounts:
            log.warning("cTrader %s for %s; re-authorising", reason, ", ".join(accounts))
            self._tasks.spawn(self._reauthorise_accounts(accounts))

    async def _reauthorise_accounts(self, accounts: Sequence[str]) -> None:
        try:
            await asyncio.gather(*(self._authorise(self._ctid[a]) for a in accounts))
        except AuthenticationError as exc:
            self._fail(exc)
            if self._runner is not None:
                self._runner.cancel()
            return
        except (PlatformUnavailable, CTraderApiError, TimeoutError, ProtocolError) as exc:
            log.warning("cTrader re-authorisation failed (%s); reconnecting", exc or type(exc).__name__)
            if self._conn is not None:
                await self._conn.close()  # the reader ends and the reconnect re-authorises everything
            return
        for account in accounts:
            self._account_ready(account)

    def _account_ready(self, account: str) -> None:
        for hook in self._ready_hooks:
            self._tasks.spawn(hook(account))
