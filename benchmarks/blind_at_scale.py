"""The invariant at scale, timed (issue 15): each loss crossing → its alert (or an open blind alarm), 2 s at most.

    python -m benchmarks.blind_at_scale                          # 1,000 accounts, client limits raised
    python -m benchmarks.blind_at_scale --ctrader-limits --accounts 1000   # cTrader's 50/s and 5/s history

The scenario is the fault suite's (``tests/faults/scale.py``): 1,000 cTrader accounts on one connection
to the fake server in its own process, /metrics scraped without pause from a thread, 50 dips past the
daily floor lasting 0.2 s while every account ticks, then the connection dropped as the market carries
the 50 accounts nearest their floor across it. The test asserts that no crossing is lost; this reports
how long each took, against the issue's 2 s. With ``--ctrader-limits`` the client keeps cTrader's own
rate limits (the fake does not enforce them): start-up takes minutes, and the reconnect shows what loading
by need buys at the real limits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from tests.faults.scale import report, run_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--crossings", type=int, default=50, help="dips, and endangered accounts at the reconnect")
    parser.add_argument("--ctrader-limits", action="store_true", help="keep cTrader's 50/s and 5/s history")
    parser.add_argument("--no-scrapes", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    run = asyncio.run(
        run_scenario(
            args.accounts,
            args.crossings,
            args.crossings,
            rate_limit=None if args.ctrader_limits else 100_000,
            scrape=not args.no_scrapes,
        )
    )
    print(report(run))


if __name__ == "__main__":
    main()
