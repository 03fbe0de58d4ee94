"""The fault suite's helpers: a real riskmon process driven from asyncio, and the fault table."""

from __future__ import annotations

import re
from pathlib import Path


def all_fault_tests(path: Path) -> int:
    """How many tests the fault suite defines (so a partial run does not overwrite the table)."""
    return len(re.findall(r"^(?:async )?def test_", path.read_text(), re.MULTILINE))
