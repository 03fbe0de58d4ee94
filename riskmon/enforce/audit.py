"""Export the enforcement audit trail: JSON Lines (one object per step) or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from riskmon.enforce.journal import Entry

COLUMNS = ("ts", "account", "trading_day", "step", "action_key", "message", "detail")


def write_jsonl(entries: Iterable[Entry], out: TextIO) -> int:
    count = 0
    for entry in entries:
        out.write(json.dumps(entry.record()) + "\n")
        count += 1
    return count


def write_csv(entries: Iterable[Entry], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for entry in entries:
        row = entry.record()
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
        writer.writerow(row)
        count += 1
    return count
