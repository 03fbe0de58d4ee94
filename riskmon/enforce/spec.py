"""What an account asks of the enforcer: the ``[accounts.enforce]`` table, and the policy it resolves to.

Live action needs two keys turned: ``mode = "live"`` on the account *and* ``DRY_RUN=false`` for the
process. Either one alone gives at most a dry run (log and alert what would be done, send nothing)::

    [accounts.enforce]
    mode = "live"                  # off (default) | dry-run | live
    [accounts.enforce.flatten]     # daily-loss / max-loss emergency buffer
    at_used = 0.9                  # flatten at 90% of the allowance used ...
    room_below = 500               # ... or with less than this much money left before the floor
    [accounts.enforce.deleverage]  # needs [accounts.rules.leverage] enabled = true
    enabled = true
    emergency_leverage = 3.0       # default EMERGENCY_LEVERAGE_THRESHOLD
    target_leverage = 1.4          # default TARGET_LEVERAGE
    margin_level_below = 150       # percent; unset: margin level does not trigger
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from riskmon.units import Share

Positive = Annotated[Decimal, Field(gt=0)]


class Mode(StrEnum):
    OFF = "off"
    DRY_RUN = "dry-run"
    LIVE = "live"


class FlattenSpec(BaseModel):
    """Flatten when daily-loss or max-loss room runs low: by share of the allowance used, or money left."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    at_used: Share | None = Decimal("0.9")  # 0.9: flatten at 90% of the allowance used
    room_below: Positive | None = None  # money: flatten when less than this is left before the floor


class DeleverageSpec(BaseModel):
    """Cut positions, largest loss first, when leverage or margin level reach their emergency levels."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = False
    emergency_leverage: Positive | None = None  # default: EMERGENCY_LEVERAGE_THRESHOLD
    target_leverage: Positive | None = None  # default: TARGET_LEVERAGE
    margin_level_below: Positive | None = None  # percent; None: margin level does not trigger
    lot_step: Positive = Decimal("0.01")  # partial closes are rounded up to this many lots


class EnforceSpec(BaseModel):
    """One account's ``enforce`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Mode = Mode.OFF
    flatten: FlattenSpec = FlattenSpec()
    deleverage: DeleverageSpec = DeleverageSpec()

    def resolve(self, dry_run: bool, emergency_leverage: Decimal, target_leverage: Decimal) -> Policy:
        mode = Mode.DRY_RUN if self.mode is Mode.LIVE and dry_run else self.mode
        dl = self.deleverage
        return Policy(
            mode=mode,
            flatten_at_used=self.flatten.at_used if self.flatten.enabled else None,
            flatten_room_below=self.flatten.room_below if self.flatten.enabled else None,
            deleverage=dl.enabled,
            emergency_leverage=dl.emergency_leverage or emergency_leverage,
            target_leverage=dl.target_leverage or target_leverage,
            margin_level_below=dl.margin_level_below,
            lot_step=dl.lot_step,
        )


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective enforcement for one account, every default filled in."""

    mode: Mode = Mode.OFF
    flatten_at_used: Decimal | None = Decimal("0.9")
    flatten_room_below: Decimal | None = None
    deleverage: bool = False
    emergency_leverage: Decimal = Decimal(3)
    target_leverage: Decimal = Decimal("1.4")
    margin_level_below: Decimal | None = None
    lot_step: Decimal = Decimal("0.01")
