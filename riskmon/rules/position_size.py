"""Position size: each position's size as % of equity, as notional or as the loss if its stop is hit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from riskmon.models import AccountSnapshot, Position, RuleResult, Severity
from riskmon.rules.base import ANY_EQUITY, HUNDRED, INFINITY, Band, Plugin, SpecRule, Watch, share_of
from riskmon.rules.spec import RulebookBase, RuleSpec
from riskmon.state import AccountState

POSITION_SIZE = "position_size"


class PositionSizeSpec(RuleSpec):
    enabled: bool = True
    basis: Literal["notional", "risk"] = "notional"
    max_percent: Annotated[Decimal, Field(gt=0)] = Decimal(10)


@dataclass(frozen=True)
class PositionSizeRule(SpecRule):
    spec: PositionSizeSpec
    name: str = POSITION_SIZE
    watches: frozenset[Watch] = frozenset({Watch.POSITIONS, Watch.PRICES})

    def exposure(self, position: Position) -> Decimal | None:
        """Notional, or the loss if the stop is hit (no stop loss: unlimited); None while it cannot be told."""
        if self.spec.basis == "notional":
            return position.notional
        if position.stop_loss is None:
            return INFINITY  # no stop loss: the risk is unlimited
        return position.loss_at_stop

    def share(self, position: Position, equity: Decimal) -> Decimal | None:
        """The position's size in % of equity; None while it cannot be told (no price yet)."""
        exposure = self.exposure(position)
        return None if exposure is None else share_of(exposure, equity) * HUNDRED

    def check(self, snap: AccountSnapshot, state: AccountState) -> RuleResult:
        limit = self.spec.max_percent
        worst: tuple[Decimal, Position] | None = None
        unknown = 0
        for position in snap.positions:
            share = self.share(position, snap.equity)
            if share is None:
                unknown += 1
            elif worst is None or share > worst[0]:
                worst = (share, position)
        if worst is None and not unknown:
            return RuleResult(self.name, Severity.OK, Decimal(0), limit, "no open positions", unit="%")
        if worst is None or (unknown and worst[0] <= limit):
            # Sizes not known yet (prices still loading, e.g. after a restart): the verdict stands as it was,
            # neither a false recovery nor a false alarm.
            kept = state.alerts.get(self.name, Severity.OK)
            observed = Decimal(0) if worst is None else worst[0]
            message = f"size of {unknown} position(s) unknown until their prices arrive; verdict unchanged"
            return RuleResult(self.name, kept, observed, limit, message, unit="%")
        share, position = worst

        def describe() -> str:
            what = "notional" if self.spec.basis == "notional" else "risk to stop"
            size = "unlimited (no stop loss)" if share == INFINITY else f"{share:.2f}% of equity"
            held = f"{position.symbol} #{position.id} {position.side} {position.volume} lots"
            return f"{held}: {what} {size} (limit {limit}%)"

        severity = Severity.WARNING if share > limit else Severity.OK
        return RuleResult(self.name, severity, share, limit, describe, unit="%", used=share / limit)

    def band(self, snap: AccountSnapshot, state: AccountState) -> Band:
        exposures = [e for e in map(self.exposure, snap.positions) if e is not None]
        largest = max(exposures, default=Decimal(0))
        if largest in (0, INFINITY):
            return ANY_EQUITY  # nothing held, or unlimited risk: the same verdict at any equity
        edge = largest * HUNDRED / self.spec.max_percent  # equity under which the largest is too big
        return Band(-INFINITY, edge) if snap.equity < edge else Band(edge, INFINITY)


def _describe(spec: PositionSizeSpec, book: RulebookBase) -> str | None:
    if not spec.enabled:
        return None
    what = "risk to the stop loss" if spec.basis == "risk" else "position size"
    return f"{what} at most {spec.max_percent.normalize():f}% of equity per position"


PLUGIN: Plugin[PositionSizeSpec] = Plugin(
    POSITION_SIZE,
    PositionSizeSpec,
    PositionSizeSpec(),
    build=lambda spec, book: PositionSizeRule(spec) if spec.enabled else None,
    describe=_describe,
)
