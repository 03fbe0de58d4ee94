"""Is every account's data fresh? The one staleness check behind ``/healthz`` and ``riskmon_account_stale``.

An account is stale when riskmon has taken no snapshot of it for longer than ``max_age``, measured on
the injected clock. An account never heard from counts from the moment the check was created, so a
starting service gets ``max_age`` to connect before it reports trouble.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from riskmon.clock import Clock
from riskmon.models import AccountSnapshot
from riskmon.monitor import AccountMonitor


def taken_at(snap: AccountSnapshot) -> datetime:
    """When riskmon took the snapshot; the platform's own timestamp when the feed did not say."""
    return snap.received_at or snap.ts


class Freshness:
    def __init__(self, monitors: Collection[AccountMonitor], clock: Clock, max_age: timedelta) -> None:
        self.monitors = monitors
        self.clock = clock
        self.max_age = max_age
        self.started = clock.now()

    def is_stale(self, monitor: AccountMonitor) -> bool:
        last = monitor.last
        since = taken_at(last.snapshot) if last is not None else self.started
        return self.clock.now() - since > self.max_age

    def stale(self) -> list[str]:
        """The accounts whose data is stale, in configuration order."""
        return [m.profile.account for m in self.monitors if self.is_stale(m)]
