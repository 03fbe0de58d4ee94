"""Enforcement: past an emergency threshold, close positions or cut leverage so the firm's floor holds.

spec.py      the [accounts.enforce] table and the Policy it resolves to
plan.py      pure decisions: flatten / deleverage triggers, trading-state transitions, intents
records.py   actions (keyed before sending), trading status
journal.py   the enforcement tables and audit trail in the SQLite store
events.py    the alert events it raises (rule ENFORCEMENT)
enforcer.py  the Enforcer observer: per-account lanes, sending, verification, retries
audit.py     audit export (JSON Lines, CSV)
"""

from riskmon.enforce.enforcer import Enforcer
from riskmon.enforce.records import TradingStatus
from riskmon.enforce.spec import EnforceSpec, Mode, Policy

__all__ = ["EnforceSpec", "Enforcer", "Mode", "Policy", "TradingStatus"]
