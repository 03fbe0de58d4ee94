"""OAuth for the Open API: authorisation URL, code exchange, refresh, and the accounts a token sees.

A CLI is a thin wrapper::

    print(authorization_url(client_id, redirect_uri))          # the user approves, comes back with ?code=
    refs = await complete_login(client_id, client_secret, code, redirect_uri,
                                store=TokenStore(path), url=endpoint_url(host))
    for ref in refs: print(ref.ctid, ref.trader_login, "live" if ref.is_live else "demo")
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from riskmon.errors import AuthenticationError, PlatformUnavailable

from .parsing import AccountRef
from .session import CTraderSession
from .tokens import Tokens, TokenStore
from .transport import Connector, websocket_connect

TOKEN_BASE_URL = "https://openapi.ctrader.com"


def authorization_url(
    client_id: str, redirect_uri: str, *, scope: str = "trading", base_url: str = TOKEN_BASE_URL
) -> str:
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope})
    return f"{base_url}/apps/auth?{query}"


async def exchange_code(
    client_id: str,
    client_secret: SecretStr,
    code: str,
    redirect_uri: str,
    *,
    base_url: str = TOKEN_BASE_URL,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Tokens:
    """Trade a one-minute authorisation code for access and refresh tokens."""
    params = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return await _token_request(client_id, client_secret, params, base_url, transport)


async def refresh(
    client_id: str,
    client_secret: SecretStr,
    refresh_token: SecretStr,
    *,
    base_url: str = TOKEN_BASE_URL,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Tokens:
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
    return await _token_request(client_id, client_secret, params, base_url, transport)


async def _token_request(
    client_id: str,
    client_secret: SecretStr,
    params: dict[str, str],
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
) -> Tokens:
    query = {**params, "client_id": client_id, "client_secret": client_secret.get_secret_value()}
    try:
        async with httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30) as client:
            response = await client.get("/apps/token", params=query)
    except httpx.HTTPError as exc:
        raise PlatformUnavailable(f"cTrader token endpoint unreachable: {type(exc).__name__}") from None
    try:
        body: Any = response.json()
    except ValueError:
        raise AuthenticationError(f"cTrader token endpoint answered HTTP {response.status_code}, not JSON") from None
    if not isinstance(body, dict):
        raise AuthenticationError("cTrader token endpoint answered with an unexpected shape")
    access, refresh_token = body.get("accessToken"), body.get("refreshToken")
    if body.get("errorCode") or not isinstance(access, str) or not isinstance(refresh_token, str):
        code = body.get("errorCode") or f"HTTP {response.status_code}"
        raise AuthenticationError(f"cTrader refused the token request: {code}: {body.get('description', '')}")
    return Tokens(SecretStr(access), SecretStr(refresh_token))


async def list_accounts(
    client_id: str,
    client_secret: SecretStr,
    tokens: Tokens,
    *,
    url: str,
    connect: Connector = websocket_connect,
) -> list[AccountRef]:
    """The trading accounts (ctidTraderAccountId, traderLogin, isLive) the access token sees."""
    session = CTraderSession(
        client_id=client_id, client_secret=client_secret, tokens=tokens, accounts=(), url=url, connect=connect
    )
    try:
        await session.start()
        return list(session.account_refs)
    finally:
        await session.close()


async def complete_login(
    client_id: str,
    client_secret: SecretStr,
    code: str,
    redirect_uri: str,
    *,
    store: TokenStore,
    url: str,
    base_url: str = TOKEN_BASE_URL,
    transport: httpx.AsyncBaseTransport | None = None,
    connect: Connector = websocket_connect,
) -> list[AccountRef]:
    """Exchange the code, save the tokens (0600), and list the accounts they open."""
    tokens = await exchange_code(client_id, client_secret, code, redirect_uri, base_url=base_url, transport=transport)
    store.save(tokens)
    return await list_accounts(client_id, client_secret, tokens, url=url, connect=connect)
