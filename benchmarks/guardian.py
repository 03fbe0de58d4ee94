"""riskmon against Guardian (github.com/Ryko1141/Guardian), the nearest public peer, on the same snapshots.

    GUARDIAN_DIR=/path/to/Guardian python -m benchmarks.guardian [--snapshots 100000] [--rounds 3]

Guardian is never part of riskmon: bring your own copy (a clone, or its bare git directory) and point
``GUARDIAN_DIR`` (or ``--guardian``) at it; without one this benchmark says so and skips. Its ``src`` package
is imported as it is (from a bare git directory: exported to a temporary directory first); nothing of it is
copied here. What is measured, each pair in one run so both see the same machine load:

1. In one process, on the same snapshots (5 positions each, built beforehand): Guardian's stateless checker
   ``check_account_rules`` with its FTMO rules (the caller feeds the day's anchor), and riskmon's
   ``AccountMonitor.process`` with the ftmo-2step preset and the fast path (day anchors, high-water marks,
   alert lifecycle, the firm's full semantics), at 1 tick/s per account, as live; then the same from the
   file's lines (decode, build the models, check).
2. Whole processes: ``riskmon replay FILE --format jsonl --preset ftmo-2step`` against Guardian's checker
   reading the same file line by line (a driver below, which only calls Guardian's public functions).

Prints a markdown table with the ratios and the exact Guardian commit measured.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from riskmon.models import AccountSnapshot, Position, Side
from riskmon.monitor import REFRESH, AccountMonitor
from riskmon.platforms.replay import parse_line, snapshot_to_line
from riskmon.profile import AccountProfile
from riskmon.rules.presets import PRESETS
from riskmon.store import MEMORY, Store

PRESET = "ftmo-2step"
INITIAL = Decimal(100_000)
T0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
SKIP = (
    "skipped: Guardian is not here. Clone https://github.com/Ryko1141/Guardian (or use its git directory) and set "
    "GUARDIAN_DIR to it, or pass --guardian PATH"
)

# The driver for the whole-process run: reads the file, builds Guardian's models, calls its checker. The caller
# feeds Guardian the day's anchor (it keeps no state): the account's first balance seen, as a minimal caller would.
DRIVER = """
import json, sys
from datetime import datetime
from src.config import FTMO_RULES
from src.models import AccountSnapshot, Position
from src.rules import check_account_rules
anchors = {}
breaches = 0
with open(sys.argv[1], encoding="utf-8") as lines:
    for line in lines:
        r = json.loads(line)
        positions = [Position(p["id"], p["symbol"], float(p["volume"]), float(p["open_price"]), float(p["price"]),
                              float(p["unrealized_pnl"]), p["side"]) for p in r.get("positions", ())]
        balance, equity, margin = float(r["balance"]), float(r["equity"]), float(r["margin"])
        anchor = anchors.setdefault(r["account"], balance)
        snap = AccountSnapshot(datetime.fromisoformat(r["ts"]), balance, equity, margin, equity - margin, positions,
                               equity - balance, starting_balance=100000.0, day_start_balance=anchor)
        breaches += len(check_account_rules(snap, FTMO_RULES))
print(breaches)
"""


@dataclass(frozen=True)
class Guardian:
    src: Path  # the directory holding Guardian's ``src`` package
    commit: str


def locate(given: str | None, into: Path) -> Guardian | None:
    """Guardian's code from a checkout or a bare git directory, or None."""
    where = given or os.environ.get("GUARDIAN_DIR")
    if not where:
        return None
    root = Path(where)
    if (root / "src" / "rules.py").is_file():
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
        return Guardian(root, head.stdout.strip() or "unknown (not a git checkout)")
    git = ["git", f"--git-dir={root}"]
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return None
    archive = subprocess.run([*git, "archive", "HEAD", "src"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return Guardian(into, head.stdout.strip())


def stream(accounts: int, count: int, seed: int = 7) -> list[AccountSnapshot]:
    """``count`` snapshots, 5 positions each, round-robin over ``accounts`` accounts ticking once a second:
    equity walks a few units a tick with the positions' prices, and now and then a trade closes."""
    rnd = random.Random(seed)
    floating = [Decimal(0)] * accounts
    balance = [INITIAL] * accounts
    out = []
    for i in range(count):
        a = i % accounts
        floating[a] += rnd.randint(-40, 40)
        if rnd.random() < 0.002:  # a trade closes: the balance moves
            balance[a] += floating[a] / 5
            floating[a] -= floating[a] / 5
        price = Decimal("1.10000") + floating[a] / 500_000
        held = tuple(
            Position(
                id=str(n),
                symbol="EURUSD",
                side=Side.BUY,
                volume=Decimal(1),
                open_price=Decimal("1.10000"),
                price=price,
                notional=price * 100_000,
                unrealized_pnl=floating[a] / 5,
            )
            for n in range(5)
        )
        out.append(
            AccountSnapshot(
                account=f"acc-{a}",
                balance=balance[a],
                equity=balance[a] + floating[a],
                margin=Decimal(5500),
                positions=held,
                ts=T0 + timedelta(seconds=i // accounts),
            )
        )
    return out


class Riskmon:
    """riskmon's checker: each account's AccountMonitor (the preset, an in-memory store, the fast path)."""

    def __init__(self, refresh: timedelta | None = REFRESH) -> None:
        self.book, self.store, self.refresh = PRESETS[PRESET].rulebook(), Store(MEMORY), refresh
        self.monitors: dict[str, AccountMonitor] = {}

    def __call__(self, snap: AccountSnapshot) -> object:
        monitor = self.monitors.get(snap.account)
        if monitor is None:
            profile = AccountProfile(snap.account, self.book, initial_balance=INITIAL)
            monitor = self.monitors[snap.account] = AccountMonitor(
                profile, self.store, refresh=self.refresh, day_lows=self.refresh != REPLAY_GATE
            )
        return monitor.process(snap)

    @property
    def steady(self) -> int:
        return sum(m.steady for m in self.monitors.values())


def guardian_models(src: Path) -> tuple[Callable[[dict[str, Any]], Any], Callable[[Any], object]]:
    """Guardian's model builder (from a replay record) and its checker with its FTMO rules."""
    sys.path.insert(0, str(src))
    from src.config import FTMO_RULES  # type: ignore[import-not-found]
    from src.models import AccountSnapshot as GSnapshot  # type: ignore[import-not-found]
    from src.models import Position as GPosition
    from src.rules import check_account_rules  # type: ignore[import-not-found]

    anchors: dict[str, float] = {}

    def build(r: dict[str, Any]) -> Any:
        positions = [
            GPosition(
                p["id"],
                p["symbol"],
                float(p["volume"]),
                float(p["open_price"]),
                float(p["price"]),
                float(p["unrealized_pnl"]),
                p["side"],
            )
            for p in r.get("positions", ())
        ]
        balance, equity, margin = float(r["balance"]), float(r["equity"]), float(r["margin"])
        anchor = anchors.setdefault(r["account"], balance)
        return GSnapshot(
            datetime.fromisoformat(r["ts"]), balance, equity, margin, equity - margin, positions, equity - balance,
            starting_balance=100000.0, day_start_balance=anchor,
        )  # fmt: skip

    return build, lambda snap: check_account_rules(snap, FTMO_RULES)


def per_item(fn: Callable[[Any], object], items: Iterable[Any], count: int) -> float:
    started = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - started) / count * 1e6


REPLAY_GATE = timedelta(days=1)  # what `riskmon replay` uses: no table or metrics to refresh


def from_lines(check: Riskmon) -> Callable[[str], object]:
    return lambda line: check(parse_line(line))


def in_process(guardian: Guardian, count: int, accounts: int, rounds: int) -> list[str]:
    snaps = stream(accounts, count)
    lines = [snapshot_to_line(s) for s in snaps]
    build, g_check = guardian_models(guardian.src)
    g_snaps = [build(json.loads(line)) for line in lines]
    cases: list[tuple[str, Callable[[], Callable[[Any], object]], list[Any], Callable[[Any], object], list[Any]]] = [
        ("check only, as replay (models built beforehand)", lambda: Riskmon(REPLAY_GATE), snaps, g_check, g_snaps),
        ("check only, as live (a full evaluation every 10 s per account)", Riskmon, snaps, g_check, g_snaps),
        (
            "from the file's lines (decode, build, check), as replay",
            lambda: from_lines(Riskmon(REPLAY_GATE)),
            lines,
            lambda line: g_check(build(json.loads(line))),
            lines,
        ),
    ]
    out = []
    for label, make, ours_in, theirs_fn, theirs_in in cases:
        pairs = []
        for _ in range(rounds):  # alternating, so both see the same load
            pairs.append((per_item(make(), ours_in, count), per_item(theirs_fn, theirs_in, count)))
        ours, theirs = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        out.append(f"| {label} | {ours:.2f} µs | {theirs:.2f} µs | {theirs / ours:.2f}× |")
    for label, gate in (("as replay", REPLAY_GATE), ("as live", REFRESH)):
        check = Riskmon(gate)
        for snap in snaps:
            check(snap)
        print(f"riskmon, {label}: the full engine ran on {1 - check.steady / count:.1%} of the snapshots")
    print()
    return out


def whole_process(guardian: Guardian, count: int, accounts: int, rounds: int, workdir: Path) -> str:
    path = workdir / "snapshots.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for snap in stream(accounts, count):
            f.write(snapshot_to_line(snap) + "\n")
    ours_cmd = [sys.executable, "-m", "riskmon", "replay", str(path), "--format", "jsonl", "--preset", PRESET]
    ours_cmd += ["--initial-balance", str(INITIAL)]
    theirs_cmd = [sys.executable, "-c", DRIVER, str(path)]
    env = {**os.environ, "PYTHONPATH": str(guardian.src)}
    times: list[tuple[float, float]] = []
    for _ in range(rounds):
        pair = []
        for cmd, extra in ((ours_cmd, None), (theirs_cmd, env)):
            started = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=extra, cwd=workdir)
            pair.append(time.perf_counter() - started)
        times.append((pair[0], pair[1]))
    ours = statistics.median(t[0] for t in times)
    theirs = statistics.median(t[1] for t in times)
    what = f"whole process, {count:,} snapshots (`riskmon replay` vs Guardian's checker)"
    return f"| {what} | {ours:.2f} s | {theirs:.2f} s | {theirs / ours:.2f}× |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guardian", help="a Guardian checkout or git directory (default: $GUARDIAN_DIR)")
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        guardian = locate(args.guardian, Path(tmp) / "guardian")
        if guardian is None:
            print(SKIP)
            return 0
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        print(f"Guardian commit {guardian.commit}; riskmon preset {PRESET}; 5 positions a snapshot; "
              f"{args.accounts} accounts at 1 tick/s; median of {args.rounds} alternating rounds\n")  # fmt: skip
        print("| per snapshot | riskmon | Guardian | riskmon's speed ÷ Guardian's |\n|---|---:|---:|---:|")
        for row in in_process(guardian, min(args.snapshots, 50_000), args.accounts, args.rounds):
            print(row)
        print(whole_process(guardian, args.snapshots, args.accounts, args.rounds, workdir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
