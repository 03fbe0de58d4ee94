"""OAuth helpers against a fake token endpoint over real HTTP on loopback, and the account listing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import SecretStr

from riskmon.errors import AuthenticationError, PlatformUnavailable
from riskmon.platforms.ctrader import Tokens, TokenStore
from riskmon.platforms.ctrader.login import (
    authorization_url,
    complete_login,
    exchange_code,
    list_accounts,
    refresh,
)
from tests.fakes.ctrader_server import FakeCTraderServer

from .conftest import CTID, LOGIN


class TokenEndpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        TokenEndpoint.seen.append(query)
        ok_client = query.get("client_id") == "app" and query.get("client_secret") == "s3cret"
        body: dict[str, object]
        if url.path != "/apps/token" or not ok_client:
            body = {"errorCode": "ACCESS_DENIED", "description": "bad client"}
        elif query.get("grant_type") == "authorization_code" and query.get("code") == "good-code":
            body = {
                "accessToken": "acc-1",
                "tokenType": "bearer",
                "expiresIn": 2628000,
                "refreshToken": "ref-1",
            }
        elif query.get("grant_type") == "refresh_token" and query.get("refresh_token") == "ref-1":
            body = {
                "accessToken": "acc-2",
                "tokenType": "bearer",
                "expiresIn": 2628000,
                "refreshToken": "ref-2",
            }
        else:
            body = {"errorCode": "INVALID_GRANT", "description": "code expired"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def token_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_authorization_url() -> None:
    url = authorization_url("app", "http://localhost:8765/cb")
    assert (
        url
        == "https://openapi.ctrader.com/apps/auth?client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcb&scope=trading"
    )


async def test_exchange_code_then_refresh(token_url: str) -> None:
    tokens = await exchange_code("app", SecretStr("s3cret"), "good-code", "http://cb", base_url=token_url)
    assert (tokens.access.get_secret_value(), tokens.refresh.get_secret_value()) == ("acc-1", "ref-1")
    assert TokenEndpoint.seen[-1]["redirect_uri"] == "http://cb"
    renewed = await refresh("app", SecretStr("s3cret"), tokens.refresh, base_url=token_url)
    assert renewed.access.get_secret_value() == "acc-2" and "acc-2" not in repr(renewed)


async def test_refused_code_is_a_clear_error(token_url: str) -> None:
    with pytest.raises(AuthenticationError, match="INVALID_GRANT: code expired"):
        await exchange_code("app", SecretStr("s3cret"), "stale", "http://cb", base_url=token_url)
    with pytest.raises(AuthenticationError, match="ACCESS_DENIED"):
        await exchange_code("app", SecretStr("wrong"), "good-code", "http://cb", base_url=token_url)


async def test_unreachable_endpoint() -> None:
    with pytest.raises(PlatformUnavailable):
        await exchange_code("app", SecretStr("s3cret"), "c", "http://cb", base_url="http://127.0.0.1:9")


async def test_list_accounts(server: FakeCTraderServer) -> None:
    server.add_account(ctid=2002, login=8002, is_live=True)
    tokens = Tokens(SecretStr(server.access_token), SecretStr(server.refresh_token))
    refs = await list_accounts(server.client_id, SecretStr(server.client_secret), tokens, url=server.url)
    assert [(r.ctid, r.trader_login, r.is_live) for r in refs] == [(CTID, LOGIN, False), (2002, 8002, True)]


async def test_complete_login_saves_tokens_and_lists_accounts(token_url: str, tmp_path: Path) -> None:
    async with FakeCTraderServer(client_id="app", client_secret="s3cret", access_token="acc-1") as server:
        server.add_account(ctid=CTID, login=LOGIN)
        store = TokenStore(tmp_path / "ctrader.json")
        refs = await complete_login(
            "app",
            SecretStr("s3cret"),
            "good-code",
            "http://cb",
            store=store,
            url=server.url,
            base_url=token_url,
        )
    assert [(r.ctid, r.trader_login) for r in refs] == [(CTID, LOGIN)]
    assert store.load().refresh.get_secret_value() == "ref-1"
