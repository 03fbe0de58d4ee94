"""Enforcement: the enforcer's own alerts (halts, refused or unconfirmed closes), raised by the enforcer
outside an evaluation. Its events are built in ``riskmon.enforce.events``; this module names the rule."""

from __future__ import annotations

ENFORCEMENT = "enforcement"
