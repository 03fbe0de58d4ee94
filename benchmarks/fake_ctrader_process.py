"""The fake cTrader server in a process of its own, so its work does not share riskmon's core.

    python -m benchmarks.fake_ctrader_process --accounts 1000 --balance 100000 --open-price 1.10000

Every account (ctid FIRST_CTID + i) holds one 1-lot EURUSD BUY at ``--open-price``. The process prints
one JSON line, its URL and credentials (``{"url": ..., "client_id": ..., "client_secret": ...,
"access_token": ..., "refresh_token": ...}``), then obeys JSON lines on stdin, answering each with one line:

    {"cmd": "send", "ticks": [[ctid, bid_points], ...], "rate": 1000}
        sends the SpotEvents in order, evenly paced at ``rate`` a second (bid = points / 100,000,
        ask one pip above); answers {"sent": [monotonic time just before each write, ...]}
    {"cmd": "closes"}
        answers {"closes": [[ctid, monotonic receive time], ...]}: every close request so far
    {"cmd": "quit"}

Times are ``time.monotonic()``, one system-wide clock (CLOCK_MONOTONIC), comparable across processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from decimal import Decimal
from typing import Any

from tests.fakes.ctrader_server import FakeCTraderServer

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


async def main(accounts: int, balance: str, open_price: str) -> None:
    server = FakeCTraderServer(check_frames=False)  # the tests check every frame; here it would add to the latency
    server.add_symbol("EURUSD", "EUR", "USD", bid=open_price, ask=Decimal(open_price) + PIP)
    for ctid in range(FIRST_CTID, FIRST_CTID + accounts):
        server.add_account(ctid=ctid, login=ctid + 1_000_000, balance=balance)
        await server.open_position(ctid, "EURUSD", "BUY", lots="1", price=open_price)
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
                case _:
                    break
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--balance", default="100000")
    parser.add_argument("--open-price", default="1.10000")
    args = parser.parse_args()
    asyncio.run(main(args.accounts, args.balance, args.open_price))
