"""Before/after: evaluation throughput of another revision's engine and this tree's, in one run.

    python -m benchmarks.compare 09abcfe [--rounds 5]

The other revision's ``riskmon`` package is exported (``git archive``) to a temporary directory; each
round runs the throughput benchmark once with it and once with this tree, each in a fresh process,
alternating, so both see the same machine load. Prints the median of the rounds as a markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = (("basic", 3), ("ftmo-2step", 3), ("ftmo-2step", 20))
PROBE = (  # riskmon is a namespace package: riskmon.engine's file tells which tree was imported
    "import json, sys\n"
    "import riskmon.engine\n"
    "from benchmarks.engine import throughput\n"
    "case = json.loads(sys.argv[1])\n"
    "print(json.dumps({'path': riskmon.engine.__file__, 'rate': throughput(*case)[0]}))\n"
)


def export(rev: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", rev, "riskmon"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def rate(case: tuple[str, int], riskmon_root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(riskmon_root), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(case)],
        env=env,
        cwd=riskmon_root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    doc = json.loads(out)
    assert Path(doc["path"]).is_relative_to(riskmon_root), doc["path"]  # the intended tree was measured
    return float(doc["rate"])


def main(rev: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        export(rev, Path(tmp))
        print(f"snapshots evaluated per second, one core, median of {rounds} alternating rounds\n")
        print(f"| case | {rev} | this tree | change |\n|---|---:|---:|---:|")
        for case in CASES:
            before, after = [], []
            for _ in range(rounds):
                before.append(rate(case, Path(tmp)))
                after.append(rate(case, ROOT))
            old, new = statistics.median(before), statistics.median(after)
            print(f"| {case[0]}, {case[1]} positions | {old:,.0f} | {new:,.0f} | {new / old - 1:+.0%} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the revision to compare against, e.g. the merge base")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    main(args.rev, args.rounds)
