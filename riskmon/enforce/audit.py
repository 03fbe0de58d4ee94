"""Export the enforcement audit trail: JSON Lines (one object per step) or CSV."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from riskmon.enforce.journal import Entry
from riskmon.errors import StoreError

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


def open_read_only(path: Path) -> sqlite3.Connection:
    """The audit tables of ``path``, read-only and without the store's lock: works while the service runs."""
    if not path.exists():
        raise StoreError(f"{path} does not exist: nothing has been recorded there")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'enforcement_audit'").fetchone() is None:
        db.close()
        raise StoreError(f"{path} has no enforcement audit yet")
    return db
