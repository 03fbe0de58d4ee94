"""The fake cTrader server in a process of its own, so its work does not share riskmon's core.

    python -m tests.fakes.ctrader_process --accounts 1000 --balance 100000 --open-price 1.10000 \
        [--endangered 50 --endangered-price 1.14600]

Every account (ctid FIRST_CTID + i) holds one 1-lot EURUSD BUY at ``--open-price`` (the first
``--endangered`` ones at ``--endangered-price``: near their floor at the same market). The process prints
one JSON line, its URL and credentials (``{"url": ..., "client_id": ..., "client_secret": ...,
"access_token": ..., "refresh_token": ...}``), then obeys JSON lines on stdin, answering each with one line:

    {"cmd": "send", "ticks": [[ctid, bid_points], ...], "rate": 1000}
        sends the SpotEvents in order, evenly paced at ``rate`` a second (bid = points / 100,000,
        ask one pip above); answers {"sent": [monotonic time just before each write, ...]}
    {"cmd": "closes"}
        answers {"closes": [[ctid, monotonic receive time], ...]}: every close request so far
    {"cmd": "price", "bid_points": 109500}
        moves the market for every account (a SpotEvent to each subscribed one; a book reloaded later
        reads it from the server's figures); answers {"sent": monotonic time just before}
    {"cmd": "drop"}
        drops every connection (a reconnect follows); answers {"dropped": monotonic time just before}
    {"cmd": "quit"}

``ServerProcess`` runs it and speaks this protocol from an asyncio program.

Times are ``time.monotonic()``, one system-wide clock (CLOCK_MONOTONIC), comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fakes.ctrader_server import FakeCTraderServer

ROOT = Path(__file__).resolve().parents[2]
FIRST_CTID = 100_000
PIP = Decimal("0.0001")


async def _send(server: FakeCTraderServer, ticks: list[list[int]], rate: float) -> list[float]:
    sent: list[float] = []
    start = time.monotonic()
    for n, (ctid, points) in enumerate(ticks):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        bid = Decimal(points) / 100_000
        sent.append(time.monotonic())
        await server.send_spot(ctid, "EURUSD", bid=bid, ask=bid + PIP)
    return sent


async def main(accounts: int, balance: str, open_price: str, endangered: int = 0, endangered_price: str = "") -> None:
    server = FakeCTraderServer(check_frames=False)  # the tests check every frame; here it would add to the latency
    server.add_symbol("EURUSD", "EUR", "USD", bid=open_price, ask=Decimal(open_price) + PIP)
    for n, ctid in enumerate(range(FIRST_CTID, FIRST_CTID + accounts)):
        server.add_account(ctid=ctid, login=ctid + 1_000_000, balance=balance)
        price = endangered_price if n < endangered else open_price
        await server.open_position(ctid, "EURUSD", "BUY", lots="1", price=price)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)  # a send command carries every tick of a run
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with server:
        credentials = ("client_id", "client_secret", "access_token", "refresh_token")
        print(json.dumps({"url": server.url} | {name: getattr(server, name) for name in credentials}), flush=True)
        while line := await reader.readline():
            command: dict[str, Any] = json.loads(line)
            match command["cmd"]:
                case "send":
                    answer: dict[str, Any] = {"sent": await _send(server, command["ticks"], command["rate"])}
                case "closes":
                    answer = {"closes": [[r.ctid, r.received_at] for r in server.close_requests]}
                case "price":
                    bid = Decimal(command["bid_points"]) / 100_000
                    answer = {"sent": time.monotonic()}
                    await server.set_price("EURUSD", bid=bid, ask=bid + PIP)
                case "drop":
                    answer = {"dropped": time.monotonic()}
                    await server.drop_connections()
                case _:
                    break
            print(json.dumps(answer), flush=True)


class ServerProcess:
    """The fake server's process, spoken to with JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process, hello: dict[str, str]) -> None:
        self.proc, self.hello = proc, hello  # its URL and credentials

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls, accounts: int, balance: Decimal, open_price: Decimal, endangered: int = 0, endangered_price: Decimal = 0
    ) -> AsyncIterator[ServerProcess]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.ctrader_process",
            f"--accounts={accounts}",
            f"--balance={balance}",
            f"--open-price={open_price}",
            f"--endangered={endangered}",
            f"--endangered-price={endangered_price}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
            cwd=ROOT,  # `-m tests...` wherever the caller runs (the tests run in their own home)
        )
        try:
            assert proc.stdout is not None
            server = cls(proc, json.loads(await proc.stdout.readline()))
            yield server
            await server.call({"cmd": "quit"}, answer=False)
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()

    async def call(self, command: dict[str, Any], answer: bool = True) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        return json.loads(await self.proc.stdout.readline()) if answer else {}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--balance", default="100000")
    parser.add_argument("--open-price", default="1.10000")
    parser.add_argument("--endangered", type=int, default=0)
    parser.add_argument("--endangered-price", default="")
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.balance, args.open_price, args.endangered, args.endangered_price))
