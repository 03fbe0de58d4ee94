"""The platforms riskmon knows: one line per plug-in (see docs/adding-a-platform.md)."""

from __future__ import annotations

from typing import Any

from riskmon.platforms.ctrader.plugin import CTRADER
from riskmon.platforms.mt5.plugin import MT5
from riskmon.platforms.plugin import PlatformPlugin
from riskmon.platforms.projectx.plugin import PROJECTX
from riskmon.platforms.replay import REPLAY
from riskmon.platforms.sim import SIM
from riskmon.platforms.tradelocker.plugin import TRADELOCKER

PLATFORMS: dict[str, PlatformPlugin[Any, Any]] = {
    plugin.name: plugin
    for plugin in (
        SIM,
        REPLAY,
        CTRADER,
        MT5,
        PROJECTX,
        TRADELOCKER,
    )
}
