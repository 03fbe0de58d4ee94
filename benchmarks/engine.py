"""Engine benchmarks: evaluation throughput, memory per account, many accounts at one tick a second,
and start-up time with 1,000 accounts.

    python -m benchmarks.engine          (make bench runs these among the others: benchmarks/run.py)

Prints a markdown table. Everything runs in this one process except start-up, which times a real
`riskmon run` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from riskmon.models import AccountSnapshot, Position, Side
from riskmon.monitor import AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def positions(count: int) -> tuple[Position, ...]:
    return tuple(
        Position(
            id=str(i),
            symbol="EURUSD",
            side=Side.BUY,
            volume=Decimal(1),
            open_price=Decimal("1.1000"),
            price=Decimal("1.0990"),
            notional=Decimal(109900),
            unrealized_pnl=Decimal(-100),
            stop_loss=Decimal("1.0900"),
        )
        for i in range(count)
    )


def snapshots(account: str, count: int, held: tuple[Position, ...]) -> Iterator[AccountSnapshot]:
    for i in range(count):
        yield AccountSnapshot(
            account=account,
            balance=Decimal(100000),
            equity=Decimal(100000) - Decimal(i % 6000),  # walks into warning and back
            margin=Decimal(3300),
            positions=held,
            ts=T0 + timedelta(milliseconds=i),
        )


def profile(preset: str, account: str = "bench") -> AccountProfile:
    return AccountProfile(account, PRESETS[preset].rulebook(), initial_balance=Decimal(100000))


def throughput(preset: str, held: int, count: int = 40_000) -> tuple[float, float]:
    """Snapshots evaluated per second on one core, and rule checks per second."""
    monitor = AccountMonitor(profile(preset), Store(MEMORY))
    batch = list(snapshots("bench", count, positions(held)))
    gc.collect()
    started = time.perf_counter()
    for snap in batch:
        monitor.process(snap)
    elapsed = time.perf_counter() - started
    rate = count / elapsed
    return rate, rate * len(monitor.profile.rules)


def memory_per_account(accounts: int = 10_000) -> float:
    """Bytes held per monitored account (monitor, state, last evaluation with 3 positions)."""
    store = Store(MEMORY)
    held = positions(3)
    book = PRESETS["ftmo-2step"].rulebook()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    monitors = []
    for n in range(accounts):
        monitor = AccountMonitor(AccountProfile(f"acc-{n}", book, initial_balance=Decimal(100000)), store)
        monitor.process(next(snapshots(f"acc-{n}", 1, held)))
        monitors.append(monitor)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / accounts


async def ticking(accounts: int, seconds: float) -> tuple[float, float, float]:
    """Every account ticks once a second (evenly spread); latency = tick due → its evaluation done.

    Returns p50 and p99 in milliseconds, and the share of one core the engine used.
    """
    store = Store(MEMORY)
    book = PRESETS["ftmo-2step"].rulebook()
    monitors = [
        AccountMonitor(AccountProfile(f"acc-{n}", book, initial_balance=Decimal(100000)), store)
        for n in range(accounts)
    ]
    held = positions(2)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    ticks = int(accounts * seconds)
    cpu_start = time.process_time()
    k = 0
    while k < ticks:
        # Deliver every tick that is due (a feed hands over whatever arrived), then wait for the next.
        while k < ticks and start + k / accounts <= loop.time():
            due = start + k / accounts
            monitor = monitors[k % accounts]
            monitor.process(
                AccountSnapshot(
                    account=monitor.profile.account,
                    balance=Decimal(100000),
                    equity=Decimal(100000) - Decimal(k % 6000),
                    margin=Decimal(2200),
                    positions=held,
                    ts=datetime.now(UTC),
                )
            )
            latencies.append((loop.time() - due) * 1000)
            k += 1
        await asyncio.sleep(max(0.0, start + k / accounts - loop.time()))
    cpu = (time.process_time() - cpu_start) / (loop.time() - start)  # a run that falls behind lasts longer
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1], cpu


class StartFailed(RuntimeError):
    """riskmon exited (or never got ready) while a benchmark waited for it: the reason is in its last lines."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def saved_states(db: Path) -> int:
    """Accounts with a saved state (0 while the database is not there yet); the connection is always closed."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM account_state").fetchone()[0])
    except sqlite3.Error:
        return 0


def startup_seconds(accounts: int = 1000, timeout: float = 300.0, port: int | None = None) -> float:
    """A real `riskmon run` process with simulated accounts: launch → first snapshot of every account saved.

    Fails at once with riskmon's own last lines if it exits (a port taken, a bad config), or after ``timeout``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "riskmon.toml"
        config.write_text(
            "".join(f'[[accounts]]\nid = "sim-{n}"\nplatform = "sim"\n\n' for n in range(accounts)), encoding="utf-8"
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": tmp,
            "RISKMON_DB": str(Path(tmp) / "riskmon.db"),
            "RISKMON_CONFIG": str(config),
            "PYTHONUNBUFFERED": "1",
            "SIM_INTERVAL": "60",
            "LOG_LEVEL": "DEBUG",
            "METRICS_PORT": str(port or free_port()),  # never the default: a running riskmon may hold it
        }
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "run", "--no-table", "--env-file", os.devnull],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        tail: deque[str] = deque(maxlen=5)
        # Read riskmon's log in a thread the whole time: a full pipe would stall it.
        reader = threading.Thread(target=lambda: tail.extend(proc.stderr or ()), daemon=True)
        reader.start()
        db = Path(tmp) / "riskmon.db"
        try:
            while saved_states(db) < accounts:  # every account's first snapshot evaluated and its state saved
                if proc.poll() is not None:
                    reader.join(5)
                    last = "".join(tail).strip() or "(nothing on stderr)"
                    raise StartFailed(f"riskmon exited with code {proc.returncode} before it was ready:\n{last}")
                if time.perf_counter() - started > timeout:
                    raise StartFailed(f"riskmon not ready after {timeout:.0f} s:\n{''.join(tail).strip()}")
                time.sleep(0.05)
            return time.perf_counter() - started
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(5)


def main() -> None:
    rows = []
    for preset, held in (("basic", 3), ("ftmo-2step", 3), ("ftmo-2step", 20)):
        rate, checks = throughput(preset, held)
        rows.append(
            (
                f"evaluation throughput, {preset}, {held} positions",
                f"{rate:,.0f} snapshots/s ({checks:,.0f} rule checks/s)",
            )
        )
    rows.append(("memory per account (10,000 accounts, 3 positions)", f"{memory_per_account() / 1024:.1f} KB"))
    for accounts in (1_000, 10_000):
        p50, p99, cpu = asyncio.run(ticking(accounts, seconds=5))
        rows.append(
            (
                f"{accounts:,} accounts at 1 tick/s each (in-process feed)",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {cpu * 100:.0f} % of one core",
            )
        )
    rows.append(("start-up, 1,000 accounts (process launch → all first snapshots saved)", f"{startup_seconds():.2f} s"))
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
