"""The status page in a real browser: Debian's Chromium, headless, loads it from a real exporter.

Skipped only when Chromium is absent on a developer's machine; CI (``RISKMON_CI``, set by .ci/run, which
installs it) always runs it. The screenshot is kept under the test's temporary directory and its path printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
from pathlib import Path

import pytest

from tests.statuspage import desk

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("RISKMON_CI"),
    reason="Chromium is not installed (apt-get install chromium chromium-driver); CI always runs this",
)


async def _chromium(profile: Path, *args: str) -> bytes:
    assert CHROMIUM is not None, "Chromium is required in CI: .ci/run installs it"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


async def test_the_page_renders_in_chromium(tmp_path: Path) -> None:
    d = desk()
    async with d.exporter() as exporter:
        url = f"http://127.0.0.1:{exporter.port}/"
        dom = (await _chromium(tmp_path / "profile-dom", "--dump-dom", url)).decode()
        shot = tmp_path / "status-page.png"
        await _chromium(tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1000", url)
    print(f"status page screenshot: {shot}")
    # The DOM as the browser built it: every account's card, a bar per rule, the chart with both floors.
    cards = re.findall(r'<section class="card" data-account="([^"]+)"', dom)
    assert sorted(cards) == ["calm", "ftmo-100k", "html", "silent"]
    bars = sum(1 for m in d.monitors for r in (m.last.results if m.last else ()) if r.used is not None)
    assert bars >= 6 and len(re.findall(r'<div class="bar" role="meter"', dom)) == bars
    assert re.search(r'<svg[^>]*data-account="ftmo-100k"', dom)
    assert 'class="floor" data-rule="daily_loss"' in dom and 'class="floor" data-rule="max_loss"' in dom
    assert "&lt;b&gt;Prop&lt;/b&gt; &amp; co" in dom  # the label stayed text in the browser too
    # The screenshot: a real PNG of the window's size.
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1000)
    assert len(data) > 20_000  # a blank page compresses to a few hundred bytes
