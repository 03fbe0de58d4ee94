"""The ProjectX Gateway REST API: API-key login, token renewal, and one call with its answer checked.

Every endpoint is a POST with a JSON body and answers HTTP 200 with ``success``, ``errorCode`` (each
endpoint has its own enum) and ``errorMessage``; a missing or expired token is HTTP 401, too many
requests HTTP 429. A token is valid for 24 hours; ``/api/Auth/validate`` renews it (``newToken``).
Requests are paced under the documented limits: 200 a minute, ``History/retrieveBars`` 50 in 30 s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from pydantic import SecretStr

from riskmon.clock import Clock, SystemClock
from riskmon.errors import AuthenticationError, PlatformUnavailable, ProtocolError

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(hours=24)
RENEW_BEFORE = timedelta(hours=1)
BARS = "/api/History/retrieveBars"
# LoginErrorCode: what the user can do about each documented refusal.
LOGIN_REFUSALS = {
    3: "the user name and API key do not match an active key (PROJECTX_USERNAME is the platform login, "
    "not the e-mail; copy PROJECTX_API_KEY whole)",
    7: "agreements are pending: log into the platform and accept them",
    9: "the user has no API subscription (subscribe, and link it to the platform profile)",
    10: "the firm has turned API key login off",
}


class GatewayRefusal(Exception):
    """``success: false``: the endpoint's own ``errorCode`` and ``errorMessage``."""

    def __init__(self, path: str, code: int, message: str | None) -> None:
        super().__init__(f"{path} refused: errorCode {code}" + (f" ({message})" if message else ""))
        self.path = path
        self.code = code
        self.message = message or ""


class RateLimited(PlatformUnavailable):
    def __init__(self, path: str, retry_after: float) -> None:
        super().__init__(f"{path}: too many requests (HTTP 429), retry in {retry_after:g} s")
        self.retry_after = retry_after


class NotSent(PlatformUnavailable):
    """The request never reached the gateway (connection refused, DNS): it cannot have acted."""


class NoAnswer(PlatformUnavailable):
    """The request may have reached the gateway, but no answer came: it may have acted."""


@dataclass
class _Token:
    value: SecretStr
    issued: datetime


class Gateway:
    """One user's session with the gateway, shared by the feed and the trader."""

    def __init__(
        self,
        api_url: str,
        username: str,
        api_key: SecretStr,
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._username = username
        self._api_key = api_key
        self._clock = clock or SystemClock()
        self._http = client or httpx.AsyncClient(timeout=timeout)
        self._token: _Token | None = None
        self._limit = AsyncLimiter(190, 60)  # under the documented 200 a minute
        self._bars_limit = AsyncLimiter(45, 30)  # under the documented 50 in 30 s
        self.logins = 0
        self.renewals = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def token(self) -> str:
        """A valid session token: logged in on first use, renewed an hour before it expires."""
        now = self._clock.now()
        if self._token is not None and now - self._token.issued >= TOKEN_LIFETIME - RENEW_BEFORE:
            try:
                answer = await self._post("/api/Auth/validate", {}, self._token.value.get_secret_value())
                self._token = _Token(SecretStr(str(answer["newToken"])), now)
                self.renewals += 1
                log.info("ProjectX session token renewed")
            except (GatewayRefusal, KeyError):
                self._token = None  # expired or unknown session: log in again
        if self._token is None:
            await self._login()
        assert self._token is not None
        return self._token.value.get_secret_value()

    def forget_token(self) -> None:
        """The gateway refused the token (HTTP 401, a hub refusing it): the next call logs in again."""
        self._token = None

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path`` with the session token; a 401 logs in again and retries once."""
        for attempt in range(2):
            token = await self.token()
            try:
                return await self._post(path, body, token)
            except _Unauthorized:
                self.forget_token()
                if attempt:
                    raise AuthenticationError(f"ProjectX refused a fresh token for {path} (HTTP 401)") from None
                log.info("ProjectX token expired or revoked; logging in again")
        raise AssertionError("unreachable")

    async def _login(self) -> None:
        body = {"userName": self._username, "apiKey": self._api_key.get_secret_value()}
        try:
            answer = await self._post("/api/Auth/loginKey", body, None)
        except GatewayRefusal as exc:
            reason = LOGIN_REFUSALS.get(exc.code, exc.message or f"errorCode {exc.code}")
            raise AuthenticationError(f"ProjectX login refused: {reason}") from None
        except _Unauthorized:
            raise AuthenticationError("ProjectX login refused (HTTP 401)") from None
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError("ProjectX login answered success without a token")
        self._token = _Token(SecretStr(token), self._clock.now())
        self.logins += 1

    async def _post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self._bars_limit if path == BARS else self._limit:
            try:
                response = await self._http.post(f"{self.api_url}{path}", json=body, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise NotSent(f"ProjectX gateway unreachable ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise NoAnswer(f"ProjectX gateway: no answer to {path} ({type(exc).__name__})") from None
        if response.status_code == 401:
            raise _Unauthorized
        if response.status_code == 429:
            raise RateLimited(path, _retry_after(response))
        if response.status_code != 200:
            raise PlatformUnavailable(f"ProjectX gateway answered HTTP {response.status_code} to {path}")
        try:
            answer = response.json()
        except ValueError:
            raise ProtocolError(f"ProjectX gateway: the answer to {path} is not JSON") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise ProtocolError(f"ProjectX gateway: the answer to {path} has no success flag")
        if not answer["success"]:
            code = answer.get("errorCode")
            raise GatewayRefusal(path, code if isinstance(code, int) else -1, answer.get("errorMessage"))
        return answer


class _Unauthorized(Exception):
    pass


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return 1.0
