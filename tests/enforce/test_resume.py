"""Lifting a halt: the enforcer's one state machine, `riskmon resume` and `audit --since` as a user runs them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.enforce import Mode, Policy
from riskmon.models import AlertStatus, Side, TradingState
from riskmon.monitor import Evaluation
from tests.enforce.rig import ACCOUNT, Rig, running

runner = CliRunner()


def used(evaluation: Evaluation) -> Decimal:
    result = evaluation.result("daily_loss")
    assert result is not None and result.used is not None
    return result.used


async def test_resume_lifts_a_manual_halt_and_positions_stay_open(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.OFF))) as rig:
        await rig.tick()
        assert (await rig.enforcer.resume(ACCOUNT, "cli:me")).endswith("not halted; nothing to lift")
        await rig.enforcer.flatten(ACCOUNT, "cli:me")
        await rig.tick(2)
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.HALTED
        line = await rig.enforcer.resume(ACCOUNT, "telegram user 7")
        assert line == f"{ACCOUNT}: halt lifted by telegram user 7; trading allowed again"
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.ACTIVE
        assert rig.events[-1].status is AlertStatus.RESOLVED and rig.events[-1].action == "trading allowed again"
        closes = len(rig.trader.closes())
        new = rig.market.open_position(ACCOUNT, "GBPUSD", Side.SELL, Decimal(1))
        await rig.tick(2)
        assert rig.trader.closes(new) == [] and len(rig.trader.closes()) == closes  # no longer flattened
        transitions = [e.message for e in rig.enforcer.journal.entries(ACCOUNT) if e.step == "transition"]
        assert transitions[-1] == "trading halted → active: halt lifted by telegram user 7"


async def test_resume_survives_a_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path / "r.db", Policy(mode=Mode.OFF))
    async with running(rig):
        await rig.tick()
        await rig.enforcer.flatten(ACCOUNT, "cli:me")
        await rig.tick()
        await rig.enforcer.resume(ACCOUNT, "cli:me")
    rig.restart()
    async with running(rig):
        await rig.tick()
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.ACTIVE


async def test_resume_is_refused_while_the_automatic_flatten_would_halt_again(tmp_path: Path) -> None:
    async with running(Rig(tmp_path / "r.db", Policy(mode=Mode.LIVE))) as rig:
        await rig.walk_until(lambda ev: used(ev) >= Decimal("0.9"))
        await rig.tick()
        line = await rig.enforcer.resume(ACCOUNT, "cli:me")
        assert line.startswith(f"{ACCOUNT}: not resumed: daily loss: ")
        assert "the enforcer would halt it again at once" in line
        assert rig.enforcer.trading_state(ACCOUNT) is TradingState.HALTED
        refused = [e for e in rig.enforcer.journal.entries(ACCOUNT) if e.step == "manual"]
        assert [(e.message, e.detail) for e in refused] == [(line, {"by": "cli:me"})]


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env_file = tmp_path / ".env"
    env_file.write_text("SIM_INTERVAL=0.01\n")
    env = {"RISKMON_DB": str(tmp_path / "riskmon.db")}
    result = runner.invoke(app, [*args, "--env-file", str(env_file)], env=env, input=stdin)
    return result.exit_code, result.stdout


def audit(tmp_path: Path, *args: str) -> list[dict[str, str]]:
    code, out = invoke(tmp_path, "audit", "--account", "sim-ftmo", *args)
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines()]


def test_resume_from_the_command_line_asks_lifts_and_is_audited(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "flatten", "sim-ftmo", "--yes")
    assert code == 0 and "trading halted until" in out, out

    code, out = invoke(tmp_path, "resume", "sim-ftmo", stdin="n\n")
    assert code == 1 and "Lift the halt on FTMO 100k (sim) and allow trading again? [y/N]" in out

    code, out = invoke(tmp_path, "resume", "sim-ftmo", "--yes")
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("sim-ftmo: halt lifted by cli:")

    code, out = invoke(tmp_path, "resume", "sim-ftmo", "--yes")
    assert code == 0 and "not halted; nothing to lift" in out

    lifted = [e for e in audit(tmp_path) if e["step"] == "transition"][-1]
    assert lifted["message"].startswith("trading halted → active: halt lifted by cli:")

    code, out = invoke(tmp_path, "flatten", "sim-ftmo", "--yes")  # and it can be halted again
    assert code == 0 and "trading halted until" in out, out


def test_audit_since_accepts_the_times_audit_prints(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "flatten", "sim-ftmo", "--yes")
    assert code == 0, out
    entries = audit(tmp_path)
    middle = entries[len(entries) // 2]["ts"]  # e.g. 2026-12-02T05:40:00.123456+00:00
    later = [e for e in entries if e["ts"] >= middle]
    assert audit(tmp_path, "--since", middle) == later
    assert audit(tmp_path, "--since", middle.replace("+00:00", "Z")) == later
    assert audit(tmp_path, "--since", middle[:10]) == entries  # a date: from its UTC midnight
    assert audit(tmp_path, "--since", "2999-01-01") == []
    code, out = invoke(tmp_path, "audit", "--since", "yesterday")
    assert code == 2 and out == ""


def test_audit_since_reads_other_offsets_as_the_same_instant(tmp_path: Path) -> None:
    invoke(tmp_path, "flatten", "sim-ftmo", "--yes")
    entries = audit(tmp_path)
    first = entries[-1]["ts"]
    prague = datetime.fromisoformat(first).astimezone(timezone(timedelta(hours=1))).isoformat()
    assert audit(tmp_path, "--since", prague) == [e for e in entries if e["ts"] >= first]


def test_acknowledge_from_the_command_line_asks_and_says_when_nothing_is_kept(tmp_path: Path) -> None:
    code, out = invoke(tmp_path, "acknowledge", "sim-ftmo", stdin="n\n")
    assert code == 1 and "Acknowledge that FTMO 100k (sim) failed and clear the breach riskmon keeps? [y/N]" in out
    code, out = invoke(tmp_path, "acknowledge", "sim-ftmo", "--yes")
    assert code == 1 and out.strip() == "sim-ftmo: no failed-account breach is kept for it; nothing to acknowledge"
