"""The units riskmon's settings are stated in, each validated the same way everywhere.

* ``Seconds``: a duration (``STALE_AFTER``, ``SIM_INTERVAL``): a finite number of seconds, at most a year.
  ``inf`` or ``nan`` would pass a bare ``> 0`` check and then break the service (or silently never fire).
* ``Share``: 0–1 of an allowance (``warn_at = 0.8``, ``at_used = 0.9``).
* ``Percent``: 0–100 (``MAX_DAILY_LOSS_PERCENT=5``, a percent-based ``size``).

A value in the other unit is refused with an error that names the expected unit and the likely meaning,
never accepted as something else (``at_used = 90`` would never fire).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

# Longer than any sensible interval, yet far inside what a timedelta (and a multiple of it) can hold.
MAX_SECONDS = 366 * 24 * 3600


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def check_share(value: Decimal) -> Decimal:
    if 0 < value <= 1:
        return value
    hint = f"; did you mean {_text(value / 100)} for {_text(value)} %?" if 1 < value <= 100 else ""
    raise ValueError(f"{_text(value)} is not a share: a share is above 0 and at most 1 (0.9 means 90 %){hint}")


def check_percent(value: Decimal) -> Decimal:
    if 0 < value <= 100:
        return value
    raise ValueError(f"{_text(value)} is not a percent: a percent is above 0 and at most 100 (5 means 5 %)")


Share = Annotated[Decimal, AfterValidator(check_share)]
Percent = Annotated[Decimal, AfterValidator(check_percent)]
Seconds = Annotated[float, Field(allow_inf_nan=False, le=MAX_SECONDS)]
