"""The TradeLocker REST API (``/backend-api``): JWT login and refresh, ``accNum``-scoped GET and DELETE,
answers checked, requests paced under the limits the server publishes in ``/trade/config``.

Trade routes answer ``{"s": "ok", "d": ...}`` or ``{"s": "error", "errmsg": ...}``; a missing or expired
token is HTTP 401, too many requests HTTP 429. Row data (state, positions, orders) comes as arrays whose
column names ``/trade/config`` lists (``accountDetailsConfig``, ``positionsConfig``, ``ordersConfig``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from riskmon.errors import AuthenticationError, PlatformUnavailable, ProtocolError

log = logging.getLogger(__name__)

LIVE_URL = "https://live.tradelocker.com/backend-api"
DEMO_URL = "https://demo.tradelocker.com/backend-api"
SECONDS = {"SECONDS": 1.0, "MINUTES": 60.0}


class Refused(Exception):
    """``s: error`` or an HTTP 4xx other than 401/429: the server's own message."""

    def __init__(self, path: str, status: int, message: str) -> None:
        super().__init__(f"{path}: {message or f'HTTP {status}'}")
        self.status = status
        self.message = message


class RateLimited(PlatformUnavailable):
    def __init__(self, path: str, retry_after: float) -> None:
        super().__init__(f"{path}: too many requests (HTTP 429), retry in {retry_after:g} s")
        self.retry_after = retry_after


class NotSent(PlatformUnavailable):
    """The request never reached the server: it cannot have acted."""


class NoAnswer(PlatformUnavailable):
    """The request may have reached the server, but no answer came: it may have acted."""


@dataclass(frozen=True)
class RateLimit:
    """One entry of ``/trade/config`` ``rateLimits``: ``limit`` requests per ``intervalNum`` ``measure``."""

    route: str
    limit: int
    seconds: float

    @property
    def min_interval(self) -> float:
        return self.seconds / self.limit


def rate_limits(config: Mapping[str, Any]) -> dict[str, RateLimit]:
    limits = {}
    for row in config.get("rateLimits") or []:
        try:
            seconds = SECONDS[row["measure"]] * float(row["intervalNum"])
            limits[str(row["rateLimitType"])] = RateLimit(str(row["rateLimitType"]), int(row["limit"]), seconds)
        except (KeyError, TypeError, ValueError):
            log.warning("TradeLocker: rate limit entry %r not understood (skipped)", row)
    return limits


class TradeLockerApi:
    """One user's session (email, password, server), shared by the feed and the trader."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: SecretStr,
        server: str,
        *,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._password = password
        self._server = server
        self._http = client or httpx.AsyncClient(timeout=timeout)
        self._access: SecretStr | None = None
        self._refresh: SecretStr | None = None
        self._limiters: dict[str, AsyncLimiter] = {}
        self.logins = 0
        self.refreshes = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    def pace(self, limits: Mapping[str, RateLimit]) -> None:
        """Pace each route under the limit the server publishes for it."""
        self._limiters = {name: AsyncLimiter(limit.limit, limit.seconds) for name, limit in limits.items()}

    async def accounts(self) -> list[dict[str, Any]]:
        answer = await self._request("GET", "/auth/jwt/all-accounts", None, None, None, "GET_ACCOUNTS")
        rows = answer.get("accounts")
        if not isinstance(rows, list):
            raise ProtocolError("TradeLocker: all-accounts answered without accounts")
        return [row for row in rows if isinstance(row, dict)]

    async def get(self, path: str, acc_num: int, route: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A ``/trade`` GET's ``d`` object."""
        return _data(path, await self._request("GET", path, acc_num, params, None, route))

    async def delete(self, path: str, acc_num: int, body: Mapping[str, Any] | None = None) -> None:
        await self._request("DELETE", path, acc_num, None, body, "")

    async def _request(
        self,
        method: str,
        path: str,
        acc_num: int | None,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        route: str,
    ) -> dict[str, Any]:
        for attempt in range(3):
            if self._access is None:
                await self._login()
            assert self._access is not None
            headers = {"Authorization": f"Bearer {self._access.get_secret_value()}", "Accept": "application/json"}
            if acc_num is not None:
                headers["accNum"] = str(acc_num)
            response = await self._send(method, path, headers, params, body, route)
            if response.status_code != 401:
                return _answer(path, response)
            if attempt == 0 and self._refresh is not None:
                await self._renew()  # the access token expired: the refresh token gets a new one
            else:
                self._access = self._refresh = None  # log in again
        raise AuthenticationError(f"TradeLocker refused fresh tokens for {path} (HTTP 401)")

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        route: str,
    ) -> httpx.Response:
        limiter = self._limiters.get(route)
        try:
            if limiter is not None:
                async with limiter:
                    return await self._http.request(
                        method, self.base_url + path, headers=headers, params=params, json=body
                    )
            return await self._http.request(method, self.base_url + path, headers=headers, params=params, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise NotSent(f"TradeLocker unreachable ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise NoAnswer(f"TradeLocker: no answer to {method} {path} ({type(exc).__name__})") from None

    async def _login(self) -> None:
        body = {"email": self._email, "password": self._password.get_secret_value(), "server": self._server}
        response = await self._send("POST", "/auth/jwt/token", {"Accept": "application/json"}, None, body, "")
        if response.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"TradeLocker login refused (HTTP {response.status_code}): check TRADELOCKER_EMAIL, "
                "TRADELOCKER_PASSWORD and TRADELOCKER_SERVER (the server name shown at login)"
            )
        self._store_tokens(_answer("/auth/jwt/token", response))
        self.logins += 1

    async def _renew(self) -> None:
        assert self._refresh is not None
        body = {"refreshToken": self._refresh.get_secret_value()}
        response = await self._send("POST", "/auth/jwt/refresh", {"Accept": "application/json"}, None, body, "")
        if response.status_code >= 400:
            self._access = self._refresh = None
            return
        self._store_tokens(_answer("/auth/jwt/refresh", response))
        self.refreshes += 1

    def _store_tokens(self, answer: Mapping[str, Any]) -> None:
        access, refresh = answer.get("accessToken"), answer.get("refreshToken")
        if not isinstance(access, str) or not isinstance(refresh, str) or not access:
            raise ProtocolError("TradeLocker: the token answer has no accessToken and refreshToken")
        self._access, self._refresh = SecretStr(access), SecretStr(refresh)


def _answer(path: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code == 429:
        try:
            retry_after = max(0.0, float(response.headers.get("Retry-After", "1")))
        except ValueError:
            retry_after = 1.0
        raise RateLimited(path, retry_after)
    if response.status_code >= 500:
        raise PlatformUnavailable(f"TradeLocker answered HTTP {response.status_code} to {path}")
    try:
        answer = response.json()
    except ValueError:
        raise ProtocolError(f"TradeLocker: the answer to {path} is not JSON") from None
    if not isinstance(answer, dict):
        raise ProtocolError(f"TradeLocker: the answer to {path} is not an object")
    if response.status_code >= 400 or answer.get("s") == "error":
        message = answer.get("errmsg") or answer.get("message") or ""
        raise Refused(path, response.status_code, str(message))
    return answer


def _data(path: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    data = answer.get("d")
    if answer.get("s") != "ok" or not isinstance(data, dict):
        raise ProtocolError(f"TradeLocker: the answer to {path} has no data")
    return data
