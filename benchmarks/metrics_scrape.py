"""What a /metrics scrape (or the status page, the API) costs the event loop, with many accounts.

    python -m benchmarks.metrics_scrape [--accounts 10000] [--scrapes 10] [--path /metrics]

Each account has an ftmo-2step monitor whose latest evaluation holds 3 positions (what a scrape
renders). The exporter serves over loopback; a ticker task on the same loop wakes every millisecond and
records how late it ran: its worst lateness during a scrape is how long the scrape held the loop (a
snapshot arriving then waits as long). Also measured: the capture alone (the only part that runs on the
loop) and the whole scrape as the client sees it (capture, render and encode in a worker thread).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry
from rich.console import Console

from benchmarks.engine import positions, snapshots
from riskmon.exporter import Exporter
from riskmon.history import EquityHistory
from riskmon.metrics import Metrics
from riskmon.monitor import AccountMonitor
from riskmon.notify.console import account_table
from riskmon.notify.telegram_format import fit, status_html
from riskmon.offloop import render_off_loop
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store
from riskmon.view import ReadModel

BOOK = PRESETS["ftmo-2step"].rulebook()
# Reads "url expected-text" lines, scrapes, answers "ok" or "missing": started before the accounts exist,
# since forking a process of many accounts would itself hold the loop.
SCRAPER = """
import gzip, sys, urllib.request
for line in sys.stdin:
    url, expected = line.split()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=300) as response:
        body = response.read()
        text = (gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body).decode()
    print("ok" if expected in text else "missing", flush=True)
"""


def build(accounts: int) -> tuple[CollectorRegistry, list[AccountMonitor], ReadModel]:
    store = Store(MEMORY)
    history = EquityHistory(store)
    profiles = [AccountProfile(f"acc-{n}", BOOK, initial_balance=Decimal(100000)) for n in range(accounts)]
    registry = CollectorRegistry()
    metrics = Metrics(profiles, registry)
    held = positions(3)
    monitors = []
    for profile in profiles:
        monitor = AccountMonitor(profile, store, [metrics, history])
        monitor.process(next(snapshots(profile.account, 1, held)))
        monitors.append(monitor)
    return registry, monitors, ReadModel(monitors, history=history)


# What each path's answer must contain about the last account (one word: the scraper splits on spaces).
EXPECTED = {
    "/metrics": 'account="acc-{last}"',
    "/": 'data-account="acc-{last}"',
    "/api/accounts": '"acc-{last}"',
}


async def measure(accounts: int, scrapes: int, path: str = "/metrics") -> dict[str, float]:
    scraper = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRAPER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert scraper.stdin is not None and scraper.stdout is not None
    registry, _, state = build(accounts)
    captures = []
    for _ in range(scrapes):
        started = time.perf_counter()
        state.capture()
        captures.append((time.perf_counter() - started) * 1000)
    lateness: list[float] = []
    scraping = False

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            if scraping:
                lateness.append((loop.time() - due) * 1000)

    walls = []
    async with Exporter(registry, state, port=0) as exporter:
        tick = asyncio.create_task(ticker())
        scraping = True  # first the lateness of an idle loop on this machine: the noise floor
        await asyncio.sleep(3)
        scraping = False
        idle, lateness[:] = sorted(lateness), []
        for _ in range(scrapes):
            scraping = True
            started = time.perf_counter()
            # The scraper is another process, as Prometheus is: its own work never shows in riskmon's loop.
            expected = EXPECTED[path].format(last=accounts - 1)
            scraper.stdin.write(f"http://127.0.0.1:{exporter.port}{path} {expected}\n".encode())
            answer = await scraper.stdout.readline()
            walls.append((time.perf_counter() - started) * 1000)
            scraping = False
            assert answer.strip() == b"ok", answer
        tick.cancel()
    scraper.stdin.close()
    await scraper.wait()
    lateness.sort()
    return {
        "capture_ms": statistics.median(captures),
        "idle_p99_ms": idle[int(len(idle) * 0.99)],
        "idle_max_ms": idle[-1],
        "loop_held_p99_ms": lateness[int(len(lateness) * 0.99)],
        "loop_held_max_ms": lateness[-1],
        "scrape_ms": statistics.median(walls),
    }


# Readers that are not HTTP: each captures on the loop and renders in a worker thread, as riskmon does.
LOCAL = {
    "telegram /status": lambda view: fit(status_html(view.accounts)),
    "console table": lambda view: Console(file=io.StringIO(), width=160).print(account_table(view.accounts, 160, 50)),
}


async def measure_local(accounts: int, times: int, what: str) -> dict[str, float]:
    """The loop's lateness while ``what`` renders ``times`` times (capture on the loop, the rest in a thread)."""
    _, _, model = build(accounts)
    render = LOCAL[what]
    lateness: list[float] = []
    busy = False

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            if busy:
                lateness.append((loop.time() - due) * 1000)

    tick = asyncio.create_task(ticker())
    walls = []
    for _ in range(times):
        busy = True
        started = time.perf_counter()
        view = model.capture()
        await render_off_loop(render, view)
        walls.append((time.perf_counter() - started) * 1000)
        busy = False
    tick.cancel()
    lateness.sort()
    return {
        "loop_held_p99_ms": lateness[int(len(lateness) * 0.99)],
        "loop_held_max_ms": lateness[-1],
        "render_ms": statistics.median(walls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=10)
    parser.add_argument("--path", choices=sorted(EXPECTED), default="/metrics")
    parser.add_argument("--local", choices=sorted(LOCAL), help="measure a reader that is not HTTP instead")
    args = parser.parse_args()
    if args.local:
        local = asyncio.run(measure_local(args.accounts, args.scrapes, args.local))
        print(
            f"{args.local}: {args.accounts:,} accounts, {args.scrapes} renders: ticker lateness p99 "
            f"{local['loop_held_p99_ms']:.1f} ms, max {local['loop_held_max_ms']:.1f} ms; render "
            f"{local['render_ms']:.0f} ms (median, in a worker thread)"
        )
        return
    figures = asyncio.run(measure(args.accounts, args.scrapes, args.path))
    print(
        f"{args.path}: {args.accounts:,} accounts, {args.scrapes} scrapes: "
        f"capture on the loop {figures['capture_ms']:.2f} ms "
        f"(median); ticker lateness during scrapes p99 {figures['loop_held_p99_ms']:.1f} ms, max "
        f"{figures['loop_held_max_ms']:.1f} ms (idle loop: p99 {figures['idle_p99_ms']:.1f} ms, max "
        f"{figures['idle_max_ms']:.1f} ms); whole scrape {figures['scrape_ms']:.0f} ms (median, in a worker thread)"
    )


if __name__ == "__main__":
    main()
