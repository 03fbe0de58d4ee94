"""Every benchmark in one run: ``make bench`` (``python -m benchmarks.run``).

Writes ``benchmarks/RESULTS.md`` and prints it: a summary against the targets, then each benchmark's
own table, the machine and how loaded it was. About four minutes. ``--quick`` runs smaller versions
and only prints (for trying the harness; its figures are not the ones to quote).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from benchmarks import ctrader_tick_latency, engine, metrics_scrape, platform_tick_latency, streaming
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import Store

RESULTS = Path(__file__).with_name("RESULTS.md")
BOOK = PRESETS["ftmo-2step"].rulebook()


@dataclass
class Report:
    summary: list[tuple[str, str, str, str]] = field(default_factory=list)  # figure, target, result, met
    sections: list[str] = field(default_factory=list)

    def add(self, figure: str, target: str, result: str, met: bool | None = None) -> None:
        self.summary.append((figure, target, result, "–" if met is None else "yes" if met else "**no**"))

    def section(self, title: str, text: str) -> None:
        self.sections.append(f"### {title}\n\n{text}\n")


def monitors_on_demand(db: Path, platform: str = "ctrader") -> Callable[[AccountSnapshot], object]:
    """``on_snapshot`` for the tick benchmarks: each account's AccountMonitor (ftmo-2step, SQLite file)."""
    store = Store(db)
    monitors: dict[str, AccountMonitor] = {}

    def process(snap: AccountSnapshot) -> object:
        monitor = monitors.get(snap.account)
        if monitor is None:
            profile = AccountProfile(snap.account, BOOK, platform=platform, initial_balance=Decimal(10_000))
            monitor = monitors[snap.account] = AccountMonitor(profile, store)
        return monitor.process(snap)

    return process


def throughput(report: Report, repeats: int, count: int) -> None:
    lines = ["| preset, positions | rules | snapshots/s (median) | rule checks/s | spread of the repeats |"]
    lines.append("|---|---:|---:|---:|---:|")
    best = 0.0
    for preset, held in (("basic", 3), ("ftmo-2step", 3), ("ftmo-2step", 20)):
        rates = [engine.throughput(preset, held, count)[0] for _ in range(repeats)]
        rules = len(engine.profile(preset).rules)
        rate = statistics.median(rates)
        best = max(best, rate * rules) if preset == "ftmo-2step" else best
        lines.append(
            f"| {preset}, {held} | {rules} | {rate:,.0f} | {rate * rules:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} |"
        )
        if (preset, held) == ("ftmo-2step", 3):
            report.add(
                "rule evaluations per second, one core (ftmo-2step, 3 positions)",
                "100,000 rule checks/s",
                f"{rate * rules:,.0f} rule checks/s ({rate:,.0f} snapshots/s × {rules} rules)",
                rate * rules >= 100_000,
            )
    report.section(
        f"Evaluation throughput (in-process, {count:,} snapshots per run, median of {repeats})", "\n".join(lines)
    )


async def tick_to_evaluation(report: Report, seconds: float) -> None:
    lines = [ctrader_tick_latency.HEADER]
    with tempfile.TemporaryDirectory() as tmp:
        for accounts, target in ((1, 5.0), (1000, 50.0)):
            result = await ctrader_tick_latency.measure(
                accounts, seconds, monitors_on_demand(Path(tmp) / f"tick-{accounts}.db")
            )
            lines.append(result.row())
            p50, p99 = result.percentile(0.5), result.percentile(0.99)
            report.add(
                f"tick received → snapshot evaluated, {accounts:,} account(s), fake cTrader in-process",
                f"p99 < {target:g} ms",
                f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                p99 < target,
            )
    report.section(
        f"Tick → snapshot evaluated, fake cTrader server in riskmon's process and loop ({seconds:g} s a run)",
        "\n".join(lines),
    )


async def platform_ticks(report: Report, seconds: float) -> None:
    """ProjectX (market hub quotes) and TradeLocker (polled) tick → evaluated, fakes in-process."""
    px, tl = [ctrader_tick_latency.HEADER], [ctrader_tick_latency.HEADER]
    with tempfile.TemporaryDirectory() as tmp:
        for accounts in (1, 100):
            evaluate = monitors_on_demand(Path(tmp) / f"px-{accounts}.db", "projectx")
            result = await platform_tick_latency.projectx(accounts, seconds, on_snapshot=evaluate)
            px.append(result.row())
            report.add(
                f"quote → snapshot evaluated, {accounts:,} account(s), fake ProjectX market hub in-process",
                "p99 < 5 ms" if accounts == 1 else "–",
                f"p50 {result.percentile(0.5):.2f} ms, p99 {result.percentile(0.99):.2f} ms",
                result.percentile(0.99) < 5 if accounts == 1 else None,
            )
            evaluate = monitors_on_demand(Path(tmp) / f"tl-{accounts}.db", "tradelocker")
            polled, interval = await platform_tick_latency.tradelocker(accounts, seconds, on_snapshot=evaluate)
            tl.append(f"{polled.row()} {interval:g} s |")
            # one account: a move waits at most the rest of a poll (three requests), the interval, and a read
            one = accounts == 1
            report.add(
                f"price move → polled snapshot evaluated, {accounts:,} account(s), fake TradeLocker in-process "
                "(the interval is the fastest the published rate limits allow)",
                "p99 ≤ poll interval + 20 ms" if one else "–",
                f"p50 {polled.percentile(0.5):.2f} ms, p99 {polled.percentile(0.99):.2f} ms (poll {interval:g} s)",
                polled.percentile(0.99) <= interval * 1000 + 20 if one else None,
            )
    tl[0] = tl[0].replace("max ms |", "max ms | poll |") + "---|"
    report.section(f"ProjectX quote → snapshot evaluated, fake gateway in-process ({seconds:g} s a run)", "\n".join(px))
    report.section(f"TradeLocker price move → polled snapshot evaluated ({seconds:g} s a run)", "\n".join(tl))


def against_guardian(report: Report, quick: bool) -> None:
    """benchmarks.guardian when GUARDIAN_DIR points at a copy of Guardian; its skip line otherwise."""
    count = "20000" if quick else "100000"
    command = [
        sys.executable,
        "-m",
        "benchmarks.guardian",
        f"--snapshots={count}",
        "--rounds=1" if quick else "--rounds=3",
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
    report.section("riskmon against Guardian's stateless checker, same snapshots (`benchmarks/guardian.py`)", out)


def streaming_accounts(report: Report, counts: list[int], seconds: float) -> None:
    """Each count in a fresh process (``benchmarks.streaming``), so its RSS grows from riskmon's alone."""
    lines = [streaming.HEADER]
    passing, largest = [], None
    for accounts in counts:
        command = [sys.executable, "-m", "benchmarks.streaming", f"--accounts={accounts}", f"--seconds={seconds}"]
        out = subprocess.run([*command, "--json"], check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        lines.append(
            f"| {accounts:,} | {r['ticks']:,} | {r['unseen']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_share']:.0%} "
            f"| {r['rss_per_account'] / 1024:.1f} KB |"
        )
        if r["p99"] < 100 and r["unseen"] == 0:
            passing.append(accounts)
        largest = r
    report.add(
        "accounts streaming in one process at 1 tick/s each, p99 tick → evaluated < 100 ms "
        "(fake cTrader in a separate process)",
        "10,000",
        f"{max(passing):,}" if passing else f"none of {', '.join(f'{c:,}' for c in counts)}",
        bool(passing) and max(passing) >= 10_000,
    )
    if largest is not None:
        rss = largest["rss_per_account"]
        report.add(
            f"resident memory per account, RSS delta of a process streaming {largest['accounts']:,} accounts",
            "< 50 KB",
            f"{rss / 1024:.1f} KB",
            rss < 50 * 1024,
        )
    report.section(
        f"Accounts per process, streaming over the fake cTrader server in a separate process ({seconds:g} s a run)",
        "\n".join(lines),
    )


def memory(report: Report, accounts: int) -> None:
    per_account = engine.memory_per_account(accounts)
    report.add(
        f"memory per account, tracemalloc, {accounts:,} monitors (engine only, 3 positions)",
        "< 50 KB",
        f"{per_account / 1024:.1f} KB",
        per_account < 50 * 1024,
    )


async def in_process_ticking(report: Report, accounts: int, seconds: float) -> None:
    p50, p99, cpu = await engine.ticking(accounts, seconds)
    report.add(
        f"{accounts:,} accounts at 1 tick/s each, engine only (in-process snapshots, no feed)",
        "p99 < 100 ms",
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {cpu:.0%} of one core",
        p99 < 100,
    )


async def scrape(report: Report, accounts: int, scrapes: int) -> None:
    f = await metrics_scrape.measure(accounts, scrapes)
    report.add(
        f"/metrics scrape of {accounts:,} accounts: time on the event loop (the capture; rendering is in a thread)",
        "< 20 ms",
        f"capture {f['capture_ms']:.2f} ms (median); a 1 ms ticker ran late by p99 {f['loop_held_p99_ms']:.1f} ms, "
        f"max {f['loop_held_max_ms']:.1f} ms during scrapes (idle: p99 {f['idle_p99_ms']:.1f}, max "
        f"{f['idle_max_ms']:.1f} ms); whole scrape {f['scrape_ms']:.0f} ms",
        f["capture_ms"] < 20,
    )


def startup(report: Report, accounts: int) -> None:
    seconds = engine.startup_seconds(accounts, timeout=120)
    report.add(
        f"start-up, {accounts:,} simulated accounts (`riskmon run` launch → every first snapshot evaluated and saved)",
        "< 10 s for 10,000",
        f"{seconds:.2f} s",
        seconds < 10 if accounts >= 10_000 else None,
    )


async def enforcement(report: Report) -> None:
    lines = ["| accounts | crossings | closes seen | p50 ms | p99 ms | max ms |", "|---:|---|---:|---:|---:|---:|"]
    for accounts, rate, what, target in (
        (20, 10.0, "one at a time, 100 ms apart", 20.0),
        (1000, 1000.0, "1,000 within 1 s", None),
    ):
        ms = await streaming.enforcer_latencies(accounts, rate)
        p50, p99 = streaming.percentile(ms, 0.5), streaming.percentile(ms, 0.99)
        lines.append(f"| {accounts:,} | {what} | {len(ms)} | {p50:.2f} | {p99:.2f} | {max(ms):.2f} |")
        report.add(
            f"enforcer: crossing tick → close request at the fake cTrader server, {what} ({accounts:,} streaming)",
            "p99 < 20 ms" if target else "–",
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(ms)} of {accounts} closed)",
            None if target is None else p99 < target and len(ms) == accounts,
        )
    report.section("Enforcer over the fake cTrader server in a separate process", "\n".join(lines))


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor())
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}, {system}, commit {rev}"


def render(report: Report, started: float, load_before: tuple[float, ...], quick: bool) -> str:
    load_after = os.getloadavg()
    head = [
        "# riskmon benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.run`)" + (" --quick: no figures to quote." if quick else "."),
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}.",
        f"Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{time.monotonic() - started:.0f} s in all. The machine is shared: other processes' load shows in every "
        "latency.",
        "",
        "| figure | target | result | met |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in report.summary),
        "",
        "## Details",
        "",
    ]
    return "\n".join(head) + "\n".join(report.sections)


async def run(report: Report, quick: bool) -> None:
    startup(report, 100 if quick else 10_000)  # first: a riskmon that cannot start fails the run at once
    throughput(report, repeats=1 if quick else 3, count=5_000 if quick else 20_000)
    memory(report, 1_000 if quick else 10_000)
    await tick_to_evaluation(report, seconds=2 if quick else 10)
    await platform_ticks(report, seconds=2 if quick else 5)
    await in_process_ticking(report, 1_000 if quick else 10_000, seconds=2 if quick else 5)
    streaming_accounts(report, [500] if quick else [250, 500, 1_000, 2_000, 5_000, 10_000], seconds=2 if quick else 10)
    await enforcement(report)
    await scrape(report, 1_000 if quick else 10_000, 3 if quick else 5)
    against_guardian(report, quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, to try the harness")
    args = parser.parse_args()
    # riskmon logs every decision as in production, to a sink that costs the formatting only.
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO)  # noqa: SIM115
    started, load_before = time.monotonic(), os.getloadavg()
    report = Report()
    try:
        asyncio.run(run(report, args.quick))
    except engine.StartFailed as exc:
        print(f"make bench: riskmon could not start, no figures taken: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    text = render(report, started, load_before, args.quick)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
