"""The monitor's own rules: what riskmon cannot see (no data, or not yet) and state it cannot read or save.

They are raised by the account's monitor outside an evaluation (no snapshot comes to evaluate), from the
silence's length or the store's errors (``riskmon.monitor``); they alert only and resolve with the next
snapshot (or the next successful save).
"""

from __future__ import annotations

STALE_DATA = "stale_data"  # no data for longer than the platform's silence limit (STALE_AFTER)
LOADING = "loading"  # no fresh data yet since watching began, for longer than the loading allowance
STATE_UNREADABLE = "state_unreadable"  # the saved state could not be read
STATE_UNSAVED = "state_unsaved"  # the state could not be saved for longer than the grace period
